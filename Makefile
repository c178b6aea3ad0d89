# Two commands on a fresh machine: `make run` (the benchmark) and `make test`.
# Both create .venv and install the project on first use; the stamp file makes the
# second call install nothing unless pyproject.toml or constraints.txt changed.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEVICE ?= auto
PRESET ?= quick
# `make run`: a starter set that finishes in minutes on a 2-core CPU; VARIANTS=all trains the whole zoo.
VARIANTS ?= vanilla,dcgan

.PHONY: install fetch run test clean bench bench-compare publish

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --constraint constraints.txt --editable '.[dev]'
	touch $(STAMP)

install: $(STAMP)

fetch: install
	$(BIN)/gan-bench fetch

run: fetch
	$(BIN)/gan-bench run --variants $(VARIANTS) --preset $(PRESET) --device $(DEVICE)

# Two tiers, marked in the tests (`@pytest.mark.slow`). `make test`, the fast one, a few minutes:
# the linter (ruff, settings in pyproject.toml), then unit tests, tiny runs on a small synthetic
# MNIST-shaped set and every error path. `make test-all`, everything (CI runs it): adds training
# and evaluation on real MNIST, Ray clusters, runs killed and resumed in subprocesses, and the
# HTML report in headless Chromium. Both spread over one pytest-xdist worker per CPU; the tests
# of a module that share one trained run name an xdist group and stay on one worker.
PYTEST_PARALLEL = -n auto --dist loadgroup

.PHONY: test-all lint
lint: install
	$(BIN)/ruff check .

test: fetch lint
	$(BIN)/python -m pytest $(PYTEST_PARALLEL) -m "not slow"

test-all: fetch lint
	$(BIN)/python -m pytest $(PYTEST_PARALLEL)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .benchmarks

# pytest-benchmark timing of one training step per variant (tests/benchmarks), kept per
# machine and device: the id names the CPU model, plus the GPU model where CUDA is available,
# since a timing only compares with one taken on the same hardware.
# BENCH_THREADS=N pins torch's CPU threads (a separate baseline: timings differ by thread count).
# --benchmark-enable overrides a --benchmark-disable that a plain test run may carry.
BENCH_THREADS ?=
BENCH_ID = $(shell $(BIN)/python -c "import torch; from bench.devices import device_slug; print('--'.join(device_slug(torch.device(d)) for d in ['cpu'] + ['cuda'] * torch.cuda.is_available()))")
BENCH_STORAGE = .benchmarks/$(BENCH_ID)$(if $(BENCH_THREADS),-threads$(BENCH_THREADS))
BENCH_PYTEST = GAN_BENCH_THREADS=$(BENCH_THREADS) $(BIN)/python -m pytest tests/benchmarks --benchmark-enable --benchmark-only

bench: install
	$(BENCH_PYTEST) --benchmark-autosave --benchmark-storage=file://$(BENCH_STORAGE)

# Against the latest run `make bench` saved (this target saves nothing, so the baseline
# stays put until the next `make bench`); fails when a median is more than 15% slower.
bench-compare: install
	@ls $(BENCH_STORAGE)/*/*.json >/dev/null 2>&1 || { echo "no baseline in $(BENCH_STORAGE): run 'make bench' first" >&2; exit 2; }
	$(BENCH_PYTEST) --benchmark-storage=file://$(BENCH_STORAGE) --benchmark-compare --benchmark-compare-fail=median:15%

# The published comparison for this machine's best device, under results/<device-slug>/:
# publish-runs trains SEEDS seeds of every variant and writes the report (raw records in
# runs/); publish-speed writes the speed table (speed/); publish does both. The slug is the
# machine's identity, its model and what decides its kernels (torch's CPU capability, a GPU's
# compute capability): an AVX-512 machine of an AVX2 one's name publishes its own folder.
SEEDS ?= 3
SLUG = $(shell $(BIN)/python -c "from bench.devices import device_slug, resolve_device; print(device_slug(resolve_device('$(DEVICE)')))")

.PHONY: publish-runs publish-speed publish-stacked results-index clean-code

# A published record names the commit of the code that made it; with uncommitted code no commit
# regenerates it. Publish from a clean checkout of a commit: `git worktree add ../publish HEAD`.
clean-code: install
	@$(BIN)/python -c "from bench.records import code_is_clean; raise SystemExit(0 if code_is_clean() else 'error: bench/, variants/ or the pins have uncommitted changes; publish from a clean checkout (git worktree add ../publish HEAD)')"
publish: publish-runs publish-speed

# results/README.md, the list of every published set with the commands that regenerate it and its
# headline figures, generated from the records; each publish target rewrites it at its end.
# `gan-bench index results --check` (run by the tests) fails when the committed file is out of date.
results-index: install
	$(BIN)/gan-bench index results

publish-runs: fetch clean-code
	$(BIN)/gan-bench run --variants all --seeds $(SEEDS) --preset $(PRESET) --device $(DEVICE) --out results/$(SLUG)
	$(BIN)/gan-bench report results/$(SLUG) --out results/$(SLUG)
	$(BIN)/gan-bench index results

publish-speed: fetch clean-code
	$(BIN)/gan-bench speed --variants all --device $(DEVICE) --threads 1 --out results/$(SLUG)
	$(BIN)/gan-bench index results

# Stacked MNIST (1,000 modes) under results/<device-slug>/stacked-mnist/: on a 2-core CPU the
# one-epoch preset takes 3 to 5 minutes a run (about an hour for these four variants x 3 seeds);
# on a GPU use STACKED_PRESET=pacgan and STACKED_VARIANTS=all.
STACKED_VARIANTS ?= dcgan,pacdcgan2,lsgan,vanilla
STACKED_PRESET ?= one-epoch

publish-stacked: fetch clean-code
	$(BIN)/gan-bench run --dataset stacked-mnist --variants $(STACKED_VARIANTS) --seeds $(SEEDS) --preset $(STACKED_PRESET) --device $(DEVICE) --out results/$(SLUG)/stacked-mnist
	$(BIN)/gan-bench report results/$(SLUG)/stacked-mnist --out results/$(SLUG)/stacked-mnist
	$(BIN)/gan-bench index results

# Lucic et al.'s protocol on this machine, under results/<device-slug>/study-lucic-narrow: the
# narrow search (8 configurations of each original variant, configuration 0 their defaults),
# each variant's best configuration again over 3 new seeds, then the report.
STUDY_VARIANTS ?= vanilla,dcgan,lsgan,wgan-gp
STUDY_CONFIGS ?= 8
STUDY_DIR = results/$(SLUG)/study-lucic-narrow

.PHONY: publish-study
publish-study: fetch clean-code
	$(BIN)/gan-bench study --variants $(STUDY_VARIANTS) --space lucic-narrow --configs $(STUDY_CONFIGS) --seeds 1 --preset $(PRESET) --device $(DEVICE) --out $(STUDY_DIR)
	$(BIN)/gan-bench study --rerun-best --seeds 3 --device $(DEVICE) --out $(STUDY_DIR)
	$(BIN)/gan-bench report $(STUDY_DIR) --out $(STUDY_DIR)
	$(BIN)/gan-bench index results

# Every named variant trained until its FID curve stops improving (--until-converged; cap 20
# epochs), SEEDS seeds, under results/<device-slug>/converged, in seed-major rounds (every
# variant's seed 0, then seed 1, ...) so the report, rewritten after each round, is useful
# early. A round's runs go CONVERGED_WORKERS at a time, each its own `gan-bench run` on one
# thread with its log in logs/; a round ends before the next begins, so no two of them are
# ever the same run. Many hours on a 2-core CPU; stop it (Ctrl-C: each run checkpoints) and
# start it freely: --resume skips finished runs and continues unfinished ones.
CONVERGED_DIR = results/$(SLUG)/converged
CONVERGED_WORKERS ?= 2
CONVERGED_RUN = $(BIN)/gan-bench run --until-converged --preset quick --device $(DEVICE) --threads 1 --resume --format json --out $(CONVERGED_DIR)

.PHONY: publish-converged
publish-converged: fetch clean-code
	mkdir -p $(CONVERGED_DIR)/logs
	for seed in $$(seq 0 $$(($(SEEDS) - 1))); do \
	  $(BIN)/gan-bench list --format csv | tail -n +2 | cut -d, -f1 | SEED=$$seed xargs -n 1 -P $(CONVERGED_WORKERS) sh -c \
	    '$(CONVERGED_RUN) --variants "$$1" --seeds $$((SEED + 1)) >>$(CONVERGED_DIR)/logs/"$$1"-s$$SEED.log 2>&1; echo "$$1 seed $$SEED: exit $$?"' run; \
	  $(BIN)/gan-bench report $(CONVERGED_DIR) --out $(CONVERGED_DIR) >/dev/null; \
	done
	$(BIN)/gan-bench index results
