# Every target sets up .venv first (once), so a fresh clone needs only `make test` or `make quick`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup test lint quick gpu bench clean chromium

setup: $(STAMP)

# torch is pinned here: 2.13.0 is the CPU wheel on local disk; unpinned, pip pulls a CUDA build.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -qq torch==2.13.0 -e '.[pipeline,dev]'
	touch $@

# The report's browser test renders report.html in headless Chromium; installed here when missing (root).
chromium:
	tests/browser/install-chromium.sh

# The form first (seconds): lint, formatting of the Python and of the Snakemake rules, and the
# layers' import contracts (pyproject.toml, [tool.importlinter]).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check Snakefile workflow/rules
	$(BIN)/lint-imports

test: $(STAMP) chromium lint
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m pytest -q

quick: $(STAMP)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/snakemake --cores all --configfile config/quick.yaml --workflow-profile profiles/cpu

# The gpu scale (config/gpu.yaml): the paper's sizes on one GPU, ~75 minutes estimated on an H200
# (docs/gpu-recipes.md). It runs in the active environment, which needs the CUDA build of torch
# (README, Install): `make setup`'s .venv holds the CPU wheel. Without a GPU it stops at once.
gpu:
	python -c "import sys, torch; torch.cuda.is_available() or sys.exit('make gpu: torch sees no CUDA GPU (torch ' + torch.__version__ + '); install the CUDA build (README, Install)')"
	snakemake --cores all --configfile config/gpu.yaml --workflow-profile profiles/default

bench: $(STAMP)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python benchmarks/bench_data.py

clean:
	rm -rf $(VENV) .pytest_cache
