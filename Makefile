# flaskfast: the template's own tasks. `make test` is what CI runs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install test test-containers demo lint clean bench bench-smoke

$(BIN)/pytest: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $@

install: $(BIN)/pytest  ## Create .venv with the template's tooling

test: install lint  ## Lint the template, bake every variant and run the whole template suite
	$(BIN)/pytest

test-containers: install  ## Build and run every variant's image and compose stack in a private Docker engine (root; apt: docker.io mmdebstrap)
	FLASKFAST_CONTAINERS=1 $(BIN)/pytest tests/test_containers.py -v -rs -p no:cacheprovider

demo: install  ## Bake a FastAPI service and serve it on 127.0.0.1:8000 with an embedded DB
	$(BIN)/python -m tests.demo $(DEMO_ARGS)

bench: install  ## Benchmark generated services vs bare apps, every variant (~35 min); see bench/README.md
	$(BIN)/python -m bench $(BENCH_ARGS)

bench-smoke: install  ## The benchmark with a few requests per step (what CI runs); results in build/bench/smoke
	$(BIN)/python -m bench --smoke --out build/bench/smoke $(BENCH_ARGS)

lint: install  ## ruff on the template's own Python (hooks, local_extensions.py, tests, bench)
	$(BIN)/ruff check hooks tests bench local_extensions.py
	$(BIN)/ruff format --check hooks tests bench local_extensions.py

clean:
	rm -rf $(VENV) .cache build
