"""Logging for rule scripts: everything, the error included, goes to the rule's log file."""
from __future__ import annotations

import contextlib
import logging
import signal
import sys
import warnings


@contextlib.contextmanager
def rule_log(path):
    """Send logging, warnings and stderr to ``path``; log the error before re-raising it."""
    handler = logging.FileHandler(path, mode="w")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)
    warnings.simplefilter("default")
    # SIGTERM (snakemake or SLURM cancelling the job) unwinds like an error, so that
    # temporary files are removed and the log says what happened
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield logging.getLogger("encoding_models")
    except Interrupted as e:
        logging.getLogger("encoding_models").error("%s", e)
        raise SystemExit(143) from None
    except Exception as e:
        logging.getLogger("encoding_models").error("%s: %s", type(e).__name__, e)
        print(f"ERROR: {e}", file=sys.stderr)
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
        root.removeHandler(handler)
        handler.close()


class Interrupted(BaseException):
    pass


def _terminate(signum, frame):
    raise Interrupted("terminated by SIGTERM; partial outputs removed")
