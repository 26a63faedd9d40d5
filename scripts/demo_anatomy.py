"""Rule demo_anatomy: S1's cortical and ROI masks, cached for the demo generator."""
import numpy as np

from encoding_models import cortex_store, demo
from encoding_models.io import atomic_path
from encoding_models.logs import rule_log

with rule_log(snakemake.log[0]):
    cortex = cortex_store.import_cortex(snakemake.params.store)
    with cortex_store.store_lock(snakemake.params.store):
        anatomy = demo.s1_anatomy(cortex)
    with atomic_path(snakemake.output[0]) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **anatomy)
