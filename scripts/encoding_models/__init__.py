"""Library behind the encoding-model comparison workflow.

Modules: contract (NSD data contract), splits (split and normalisation), ridge (the
solver), partition (variance partitioning and summaries), demo (the synthetic
subject), download (fetching files), cortex_store and maps (pycortex), pipeline (one
function per workflow stage), io and logs (helpers).
"""
