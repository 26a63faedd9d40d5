# The two set-up commands of the README: `make demo` and `make test`.
# `make demo` installs the runtime dependencies only, `make features` adds torchvision and timm
# (features extracted from stimulus images), `make test` everything the tests need.
.PHONY: install features install-test demo test lint rulegraph

install:
	bash scripts/install.sh demo

features:
	bash scripts/install.sh features

install-test:
	bash scripts/install.sh test

demo: install
	.venv/bin/snakemake --cores all
	.venv/bin/snakemake --report report.html

test: install-test
	.venv/bin/python -m pytest -v --durations=12 tests

lint: install-test
	.venv/bin/snakemake --lint

rulegraph: install
	.venv/bin/snakemake --rulegraph > docs/rulegraph.dot && dot -Tsvg docs/rulegraph.dot > docs/rulegraph.svg
