"""Library behind the encoding-model comparison workflow.

Names and paths: layout (every path pattern and name), configuration (config parsing
and checks). Data: contract (the input data contract: readers and checks), responses
(split response block files), download, cortex_store (pycortex's filestore), demo (the
synthetic subject), io, logs, safe_npy. Maths (arrays in, arrays out, no files): splits,
runtime (torch device, threads, float64 tensors, R2), design (a model's design from its
layers), ridge, banded, penalty, stats, commonality, comparisons (variance partition of a
pair, best layer, per-ROI description). Figures and pages: maps (flatmaps), roi_figure
(per-ROI figures), palette (one colour per layer), report_pages (HTML). stages: one
module per rule file (data, fit, partition, stats, summaries, maps, report), each
"read inputs -> call the maths -> write outputs".
"""
