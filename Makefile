# The two set-up commands of the README: `make demo` and `make test`.
.PHONY: install demo test lint rulegraph

install:
	bash scripts/install.sh

demo: install
	.venv/bin/snakemake --cores all
	.venv/bin/snakemake --report report.html

test: install
	.venv/bin/python -m pytest -v --durations=12 tests

lint: install
	.venv/bin/snakemake --lint

rulegraph: install
	.venv/bin/snakemake --rulegraph > docs/rulegraph.dot && dot -Tsvg docs/rulegraph.dot > docs/rulegraph.svg
