# had-snn: two commands for a newcomer: `make demo` and `make test` (both run `make setup` when needed).
SHELL := /bin/bash
PYTHON311 ?= python3.11
VENV := .venv
LAVA_VENV := .venv-lava
PY := $(VENV)/bin/python
TORCH_VERSION ?= 2.13.0
# Use the machine's local wheel folder when there is one (CPU torch build on disk).
PIP_LINKS := $(if $(wildcard /opt/wheels),--find-links /opt/wheels,)
PYTEST_ARGS ?=
DEMO_ARGS ?=
PRESET ?= medium
OUT ?=
TABLE_ARGS ?=

.PHONY: setup setup-main setup-lava demo had-table student-diagnostic readme-results bundled-student test bench bench-readme lint clean

setup: setup-main setup-lava

setup-main: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	@echo "== had-snn setup: main venv $(VENV) (Python 3.11, torch $(TORCH_VERSION), project editable + dev extras)"
	test -x $(PY) || $(PYTHON311) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch is pinned in the same resolve, so no dependency (tonic -> torchvision) can swap in a multi-GB CUDA build.
	$(PY) -m pip install $(PIP_LINKS) -e ".[dev]" "torch==$(TORCH_VERSION)"
	touch $@

setup-lava: $(LAVA_VENV)/.installed $(LAVA_VENV)/.lava-dl-0.6.0
$(LAVA_VENV)/.installed: pyproject.toml
	@PY310=$$(scripts/find_python310.sh); \
	if [ -z "$$PY310" ]; then \
	  echo "== had-snn setup: python3.10 not found; lava-nc 0.10 needs it. Lava tests will SKIP; the emulator path still runs."; \
	  echo "   Install it (e.g. 'pyenv install 3.10') or set PYTHON310=/path/to/python3.10, then re-run make setup."; \
	else \
	  echo "== had-snn setup: Lava venv $(LAVA_VENV) ($$PY310, lava-nc 0.10.0, numpy<2, lava-dl 0.6.0 without torch)"; \
	  set -e; test -x $(LAVA_VENV)/bin/python || $$PY310 -m venv $(LAVA_VENV); \
	  $(LAVA_VENV)/bin/python -m pip install -q --upgrade pip; \
	  $(LAVA_VENV)/bin/python -m pip install "lava-nc==0.10.0" "numpy<2" h5py pyyaml; \
	  $(LAVA_VENV)/bin/python -m pip install --no-deps -e .; \
	  touch $@; \
	fi

# lava-dl's netx loader (tests/test_lavadl_netx.py, had-snn deploy --lava-netx) without its dependencies: no torch in
# the Lava venv. Its own stamp, so Lava venvs made before get it too.
$(LAVA_VENV)/.lava-dl-0.6.0: $(LAVA_VENV)/.installed
	@if test -x $(LAVA_VENV)/bin/python; then \
	  echo "== had-snn setup: lava-dl 0.6.0 in $(LAVA_VENV) (--no-deps: netx only, no torch)"; \
	  $(LAVA_VENV)/bin/python -m pip install -q --no-deps "lava-dl==0.6.0" && touch $@; \
	fi

demo: setup
	$(VENV)/bin/had-snn demo $(DEMO_ARGS)

# The HAD table (experiments/had_table.py): make had-table [PRESET=medium] [OUT=runs/had-table-medium]
# [TABLE_ARGS="--doc docs/results_had.md"]; rerun with the same OUT to resume.
had-table: setup-main
	$(PY) experiments/had_table.py --preset $(PRESET) $(if $(OUT),--out $(OUT),) $(TABLE_ARGS)

# The student diagnostic (experiments/student_diagnostic.py): make student-diagnostic [PRESET=medium]
# [OUT=runs/had-table-medium] (a HAD table's folder: its data, static, student and teacher_events steps are reused)
student-diagnostic: setup-main
	$(PY) experiments/student_diagnostic.py --preset $(PRESET) $(if $(OUT),--out $(OUT),) $(TABLE_ARGS)

# The README's results block from a finished demo run: make readme-results RUN=runs/demo-<timestamp> [COMPARE=RUN2]
readme-results: setup-main
	@test -n "$(RUN)" || { echo "give RUN=runs/demo-<timestamp> (a finished demo run folder)"; exit 2; }
	$(PY) scripts/readme_results.py $(RUN) $(if $(COMPARE),--compare $(COMPARE),)

test: setup
	$(PY) -m pytest -n 2 $(PYTEST_ARGS)

# Every bench BENCH_RUNS times (default 3) -> runs/bench/bench.md|json (an interrupted run resumes); bench-readme
# also writes the table into README.md. Remove runs/bench to measure afresh.
BENCH_RUNS ?= 3
bench: setup
	$(PY) scripts/bench_table.py --runs $(BENCH_RUNS) --out runs/bench

bench-readme: setup
	$(PY) scripts/bench_table.py --runs $(BENCH_RUNS) --out runs/bench --readme README.md

# The student shipped in the package (had_snn/models/bundled_student.pt, what `had-snn track` uses without
# --checkpoint): the demo's no-KD student, seed 0, about 2 minutes on 2 cores
bundled-student: setup-main
	$(VENV)/bin/python scripts/bundle_student.py

lint: setup-main
	$(VENV)/bin/ruff check had_snn conversion hardware tests bench experiments scripts

clean:
	rm -rf $(VENV) $(LAVA_VENV) build *.egg-info
