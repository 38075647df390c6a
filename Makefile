# Quick start: `make run` (set up + main job on the embedded store), `make test` (set up + tests).
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: setup run test lint bench bench-quick clean

$(STAMP): pyproject.toml constraints.txt
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[dev,compare,viz,ray,gpu]"
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(BIN)/nifgraph run

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check nifgraph tests scripts

bench-quick: $(STAMP)
	$(BIN)/python scripts/bench_main_job.py --quick
	$(BIN)/python scripts/bench_speed.py --quick
	$(BIN)/python scripts/bench_accuracy.py --quick
	$(BIN)/python scripts/bench_null.py --quick
	$(BIN)/python scripts/bench_calibration.py --quick
	$(BIN)/python scripts/bench_significance.py --quick
	$(BIN)/python scripts/bench_neo4j_writes.py --quick
	$(BIN)/python scripts/bench_neo4j_queries.py --quick
	$(BIN)/python scripts/bench_write_memory.py --quick
	$(BIN)/python scripts/bench_decisions.py --quick
	$(BIN)/python scripts/bench_attribution.py --quick
	$(BIN)/python scripts/reproduce_paper.py --quick
	$(BIN)/python scripts/residual_flow.py --quick
	$(BIN)/python scripts/bench_screen.py --quick
	$(BIN)/python scripts/bench_schedule.py --quick
	$(BIN)/python scripts/bench_million.py --quick
	$(BIN)/python scripts/bench_read_memory.py --quick
	OUT=$${TMPDIR:-/tmp}/nifgraph-gpu-session PYTHON=$(BIN)/python bash scripts/gpu_session.sh --quick
	$(BIN)/python scripts/bench_activation_memory.py --quick
	$(BIN)/python scripts/bench_worker_tables.py --quick
	$(BIN)/python scripts/bench_resnet.py --quick

bench: $(STAMP)
	$(BIN)/python scripts/bench_main_job.py
	$(BIN)/python scripts/bench_speed.py
	$(BIN)/python scripts/bench_accuracy.py
	$(BIN)/python scripts/bench_schedule.py
	$(BIN)/python scripts/bench_null.py
	$(BIN)/python scripts/bench_calibration.py
	$(BIN)/python scripts/bench_significance.py
	$(BIN)/python scripts/bench_neo4j_writes.py
	$(BIN)/python scripts/bench_neo4j_queries.py
	$(BIN)/python scripts/bench_decisions.py
	$(BIN)/python scripts/bench_attribution.py
	$(BIN)/python scripts/bench_resnet.py
	$(BIN)/python scripts/bench_read_memory.py
	$(BIN)/python scripts/bench_activation_memory.py
	$(BIN)/python scripts/bench_worker_tables.py
	$(BIN)/python scripts/bench_write_memory.py one-frame
	$(BIN)/python scripts/bench_write_memory.py streamed
	$(BIN)/python scripts/bench_screen.py
	$(BIN)/python scripts/bench_million.py
	$(BIN)/python scripts/residual_flow.py
	$(BIN)/python scripts/reproduce_paper.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
