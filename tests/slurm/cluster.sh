#!/usr/bin/env bash
# A single-node SLURM cluster on this machine, for the SLURM test.
#   cluster.sh start STATE_DIR   install slurm-wlm + munge if missing (root, apt), start munged,
#                                slurmctld and slurmd (no systemd), wait until the node is idle
#   cluster.sh stop STATE_DIR    stop the daemons by their pid files and remove the config
#                                this script wrote (with it left behind, every SLURM client,
#                                and so every snakemake start that loads the SLURM executor
#                                plugin, waits ~9 s for a controller that is gone)
# The config goes to /etc/slurm/slurm.conf, where every client looks (srun inside a job
# does not see a SLURM_CONF set at submission); an existing config not written by this
# script is never overwritten (the test is skipped instead).
set -euo pipefail
cmd=${1:?start|stop}
state=$(realpath -m "${2:?state dir}")
conf=/etc/slurm/slurm.conf
marker="# written by tests/slurm/cluster.sh"

stop() {
  for pid in "$state/slurmd.pid" "$state/slurmctld.pid"; do
    [ -f "$pid" ] && kill "$(cat "$pid")" 2>/dev/null || true
  done
  sleep 1
}

if [ "$cmd" = stop ]; then
  stop
  if [ -f "$conf" ] && grep -qF "$marker" "$conf"; then rm -f "$conf"; fi
  exit 0
fi

if ! command -v slurmctld >/dev/null 2>&1 || ! command -v munged >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "cluster.sh: slurm-wlm/munge missing and cannot be installed (needs root and apt-get)" >&2; exit 3
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
fi

# munge: key owned by munge, mode 400; daemon as the munge user
mkdir -p /etc/munge /run/munge /var/log/munge /var/lib/munge
[ -s /etc/munge/munge.key ] || mungekey --create --keyfile /etc/munge/munge.key
chown -R munge:munge /etc/munge /run/munge /var/log/munge /var/lib/munge
chmod 400 /etc/munge/munge.key
chmod 755 /run/munge
if ! pgrep -x munged >/dev/null; then runuser -u munge -- /usr/sbin/munged; fi

if [ -f "$conf" ] && ! grep -qF "$marker" "$conf"; then
  echo "cluster.sh: $conf exists and is not ours; not touching a real cluster's config" >&2; exit 3
fi
mkdir -p "$state/spool/ctld" "$state/spool/d" /etc/slurm
host=$(hostname -s)
node=$(slurmd -C | head -n1)                 # NodeName=... CPUs=... RealMemory=...
mem=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$node")
node=$(sed "s/RealMemory=[0-9]*/RealMemory=$((mem * 3 / 4))/" <<<"$node")
cat > "$conf" <<CONF
$marker
ClusterName=ci
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$state/spool/ctld
SlurmdSpoolDir=$state/spool/d
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/slurmctld.log
SlurmdLogFile=$state/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SlurmctldTimeout=30
SlurmdTimeout=30
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
stop
slurmctld -i
slurmd
for _ in $(seq 60); do
  if sinfo -h -o %T 2>/dev/null | grep -qx idle; then echo "cluster.sh: node idle"; exit 0; fi
  sleep 1
done
echo "cluster.sh: node did not become idle; sinfo says: $(sinfo -h 2>&1)" >&2
tail -n 20 "$state/slurmctld.log" "$state/slurmd.log" >&2 || true
exit 4
