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

# Offline smoke run: the real pn.tsv from a local copy, and tiny stand-ins of the two hub models built
# here into a Hugging Face cache of their own (HF_HOME=$(TINY)/hf, never the user's), where the default
# params.yaml ids and revisions resolve to them offline.
SHARED_PN ?= ../shared/data/jrte/pn.tsv
TINY ?= build/tiny
SMOKE_ENV := HF_HOME=$(abspath $(TINY)/hf) HF_HUB_OFFLINE=1
# Without a local copy at SHARED_PN, `make smoke` downloads the pinned pn.tsv (fetch's own download,
# hash-checked) to build/data/pn.tsv first.
SMOKE_PN := $(if $(wildcard $(SHARED_PN)),$(SHARED_PN),build/data/pn.tsv)
SMOKE_SET := -S 'data.url=$(abspath $(SMOKE_PN))' -S train.epochs=3 -S train.learning_rate=5e-4 \
  -S train.batch_size=32 -S train.max_length=64

.PHONY: help setup repro test test-fast smoke smoke-data smoke-env exp exps study study-smoke seeds report bench fullsize lint clean-venv
.DEFAULT_GOAL := help

help:  ## list the targets
	@awk -F':.*## ' '/^[a-z][a-z-]*:.*## / {printf "  make %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

setup: $(BIN)/.installed  ## create .venv: torch, requirements-dev.txt, this project (editable)

# A VENV outside this checkout (another clone's, say) is used as it is, never re-installed from here:
# its editable install would otherwise be re-pointed at this checkout behind its owner's back. The
# stages still run this checkout's code: `python -m` puts the working directory first on sys.path.
VENV_OUTSIDE := $(if $(filter $(CURDIR)/%,$(abspath $(VENV))),,yes)
ifeq ($(VENV_OUTSIDE),yes)
$(BIN)/.installed:
	@echo "setup: $(VENV) is outside this checkout and not set up; run 'make setup' in the checkout it belongs to"
	@exit 1
else
$(BIN)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) '$(TORCH_SPEC)'
	$(BIN)/python -m pip install -q -r requirements-dev.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $@
endif

repro: setup  ## run the whole pipeline (needs the model hub, or params pointing at local models)
	dvc repro

# Two pytest-xdist workers: much of the suite waits on subprocesses, imports and small tensors, so two
# share the cores better than one; tests/conftest.py keeps the shared pipeline run on one worker.
TEST_WORKERS ?= 2
test: setup  ## the whole test suite, offline (what CI runs; TEST_WORKERS=1: one process)
	python -m pytest -q $(if $(filter-out 1,$(TEST_WORKERS)),-n $(TEST_WORKERS))

test-fast: setup  ## the test suite without the slow tests (DVC runs, training, bench): the inner loop
	python -m pytest -q -m "not slow"

# Leaves the smoke overrides in params.yaml, so params and results in the workspace agree;
# `git checkout params.yaml dvc.lock` goes back.
smoke: setup smoke-env smoke-data  ## offline end-to-end run on tiny stand-ins under the hub ids (results marked standin)
	python -m ja_sentiment.tools.standins --data $(SMOKE_PN) --out $(TINY)
	$(SMOKE_ENV) dvc exp run $(SMOKE_SET)
	@echo "smoke: params.yaml holds the smoke overrides now; 'git checkout params.yaml dvc.lock' undoes them"
	@echo "smoke: more experiments offline: make exp SET='train.epochs=2' SMOKE=1, or '. $(SMOKE_ENV_FILE)' then dvc commands"

# pn.tsv for the smoke run: SHARED_PN when it exists, else the pinned download (needs the network once).
smoke-data: setup  ## pn.tsv for make smoke: SHARED_PN, else downloaded and verified to build/data/pn.tsv
	@if [ -f "$(SHARED_PN)" ]; then echo "smoke: pn.tsv from $(SHARED_PN)"; \
	else echo "smoke: no $(SHARED_PN); downloading the pinned pn.tsv to $(SMOKE_PN)"; python -m stages.fetch --out $(SMOKE_PN); fi

# The smoke run's environment as a file to source: without it, dvc commands in a new shell look for the
# stand-ins in the user's own Hugging Face cache (and find nothing offline).
SMOKE_ENV_FILE := build/smoke.env
smoke-env:  ## write build/smoke.env (HF_HOME of the stand-ins, HF_HUB_OFFLINE=1): `. build/smoke.env`
	@mkdir -p $(dir $(SMOKE_ENV_FILE))
	@printf '# the smoke run'"'"'s offline stand-ins (make smoke); source it: . %s\nexport HF_HOME=%s\nexport HF_HUB_OFFLINE=1\n' \
	  '$(SMOKE_ENV_FILE)' '$(abspath $(TINY)/hf)' > $(SMOKE_ENV_FILE)

# One experiment: `make exp SET="train.epochs=2 train.weight_decay=0.1"`; SMOKE=1 on the smoke run's stand-ins.
exp: setup  ## dvc exp run with SET's overrides (-S each); SMOKE=1: on the smoke run's offline stand-ins
	$(if $(filter 1,$(SMOKE)),$(SMOKE_ENV)) dvc exp run $(foreach s,$(SET),-S '$(s)')

# `dvc exp show` limited to the params and metrics that matter for the study.
EXP_PARAMS := epochs|learning_rate|batch_size|weight_decay|warmup|hidden_dropout|attention_dropout
EXP_PARAMS := $(EXP_PARAMS)|label_smoothing|freeze_layers|early_stopping_patience|class_weights|soft_labels
EXP_PARAMS := $(EXP_PARAMS)|layer_lr_decay|reinit_layers|drop_label_issues|seed
EXP_METRICS := (finetuned|baseline_band|tfidf)\.test\.(accuracy|macro_f1)$$|best_epoch|epochs_run
EXP_COLUMNS := Experiment|Created|train\.($(EXP_PARAMS))$$|$(EXP_METRICS)
exps: setup  ## dvc exp show: key params and test metrics only
	dvc exp show --drop '.*' --keep '$(EXP_COLUMNS)'

# Level 4 as a study: every configuration of STUDY over SEEDS, as queued DVC experiments (up to the
# evaluate stage), judged against the baseline; reports/study/<name>/study.md. JOBS experiments run at
# once: on a machine with GPUs each queue worker is pinned to its own GPU (JOBS_PER_GPU workers may
# share one), on a CPU each gets its share of the cores as threads; ONLY=a,b runs a subset (and the
# baseline).
# SMOKE=1 runs them on the smoke run's offline stand-ins (its HF_HOME, HF_HUB_OFFLINE=1). PRUNE=1 removes
# the finished experiments' models from the DVC cache after the report (the report never reads them).
# `make seeds SET="train.epochs=2"` is the two-configuration shorthand: params.yaml against SET.
STUDY ?= studies/overfitting.yaml
SEEDS ?= 1 2 3
SET ?=
JOBS ?= 1
JOBS_PER_GPU ?= 1
ONLY ?=
SMOKE ?=
PRUNE ?=
# ENGINE=ray: the experiments as Ray tasks (RAY_ADDRESS; GIT_REMOTE, DVC_REMOTE: what the tasks share;
# GPUS_PER_TASK, ACCELERATOR: what each task asks of Ray).
ENGINE ?= local
GIT_REMOTE ?=
DVC_REMOTE ?=
GPUS_PER_TASK ?=
ACCELERATOR ?=
STUDY_RUN = $(if $(filter 1,$(SMOKE)),$(SMOKE_ENV)) python -m ja_sentiment.tools.study --seeds $(SEEDS) \
  --jobs $(JOBS) --jobs-per-gpu $(JOBS_PER_GPU) --engine $(ENGINE) \
  $(if $(GIT_REMOTE),--git-remote $(GIT_REMOTE)) $(if $(DVC_REMOTE),--dvc-remote $(DVC_REMOTE)) $(if $(filter 1,$(PRUNE)),--prune-models) \
  $(if $(GPUS_PER_TASK),--gpus-per-task $(GPUS_PER_TASK)) $(if $(ACCELERATOR),--accelerator-type $(ACCELERATOR))
study: setup  ## Level 4: every configuration of STUDY over SEEDS (DVC queue); reports/study/<name>/study.md
	$(STUDY_RUN) $(STUDY) $(if $(ONLY),--only $(ONLY))

# After `make smoke`: the offline study whose baseline overfits (studies/overfitting-standins.yaml), on
# the stand-ins, two experiments at a time.
study-smoke: setup  ## after make smoke: the offline overfitting study on the stand-ins (reports/study/overfitting-standins)
	$(MAKE) study STUDY=studies/overfitting-standins.yaml SMOKE=1 JOBS=2 SEEDS="$(SEEDS)"

seeds: setup  ## a two-configuration study: params.yaml against params.yaml + SET, over SEEDS
	$(STUDY_RUN) $(foreach s,$(SET),--set $(s))

BASE ?= main
report: setup  ## build/report/report.md: workspace vs BASE, paired test scores first, then plots and diffs
	python -m ja_sentiment.tools.pr_report --base $(BASE) --out build/report

bench: setup  ## throughput of the project's paths vs the notebook recipes (needs data/processed)
	HF_HUB_OFFLINE=1 python -m bench

# Not part of `make test`: about half an hour of both cores on a 2-core CPU (see docs/performance.md).
fullsize: setup  ## the whole study at bert-base size offline: dvc repro in a fresh clone, timed per stage
	python -m bench.fullsize --shared-pn $(SHARED_PN)

lint: setup  ## ruff check
	ruff check .

clean-venv:  ## delete .venv (never a VENV outside this checkout)
	@test -z '$(VENV_OUTSIDE)' || { echo "clean-venv: $(VENV) is outside this checkout; not deleted"; exit 1; }
	rm -rf $(VENV)
