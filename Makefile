# Entry points. `make repro` and `make test` each set up the virtual environment first.
VENV ?= .venv
PYTHON ?= python3
BIN := $(abspath $(VENV))/bin
export PATH := $(BIN):$(PATH)
export DVC_NO_ANALYTICS := 1

# torch: the CPU build on machines without an NVIDIA GPU (no CUDA downloads), pip's default build
# (with CUDA) where `nvidia-smi` exists. Override, e.g. `make setup TORCH_SPEC='torch==2.13.0'
# TORCH_INDEX=https://download.pytorch.org/whl/cpu` on a CPU machine outside this environment.
HAS_GPU := $(shell command -v nvidia-smi >/dev/null 2>&1 && echo yes)
TORCH_SPEC ?= $(if $(HAS_GPU),torch>=2.4$(comma)<3,torch==2.13.0)
TORCH_INDEX ?=
comma := ,

# Offline smoke run: the real pn.tsv from a local copy and tiny models built here.
SHARED_PN ?= ../shared/data/jrte/pn.tsv
TINY ?= build/tiny
SMOKE_SET := -S 'data.url=$(abspath $(SHARED_PN))' -S baseline.model=$(TINY)/sentiment \
  -S train.checkpoint=$(TINY)/bert -S train.epochs=3 -S train.learning_rate=5e-4 \
  -S train.batch_size=32 -S train.max_length=64

.PHONY: setup repro test smoke report lint clean-venv
setup: $(BIN)/.installed

$(BIN)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) '$(TORCH_SPEC)'
	$(BIN)/python -m pip install -q -r requirements-dev.txt
	touch $@

repro: setup  ## run the whole pipeline (needs the model hub, or params pointing at local models)
	dvc repro

test: setup  ## the test suite (offline)
	python -m pytest -q

smoke: setup  ## offline end-to-end run on tiny local models; params.yaml is restored afterwards
	python -m stages.tiny_models --data $(SHARED_PN) --out $(TINY)
	cp params.yaml $(TINY)/params.yaml.saved
	dvc exp run $(SMOKE_SET); status=$$?; cp $(TINY)/params.yaml.saved params.yaml; exit $$status

BASE ?= main
report: setup  ## markdown report (params, metrics, plots) of the workspace against BASE
	python -m stages.pr_report --base $(BASE) --out build/report

lint: setup
	ruff check .

clean-venv:
	rm -rf $(VENV)
