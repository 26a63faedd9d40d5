"""One module per rule file: read a rule's inputs, call the maths, write its outputs.

The rule scripts (``scripts/*.py``) call exactly one function here. Results are written
atomically (``io.atomic_path``), so a failed or interrupted job leaves nothing at its
output path. Only the stages that compute with torch import it, so the small stages
start fast.
"""
