# flaskfast: the template's own tasks. `make test` is what CI runs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Every uv run here shares one wheel cache (also the suite's, for the baked projects).
export UV_CACHE_DIR ?= $(CURDIR)/.cache/uv
export UV_NO_PROGRESS ?= 1
# What `make refresh-locks` runs on the refreshed locks: by default the whole suite.
REFRESH_TESTS ?=

.PHONY: install lock refresh-locks test test-containers demo lint clean bench bench-smoke bench-list

# requirements.txt pins the tooling with hashes. pip installs uv from its lines (hashes
# checked), then uv installs exactly the lock's set (anything else is removed).
$(BIN)/pytest: pyproject.toml requirements.txt
	test -x $(BIN)/uv || { $(PYTHON) -m venv $(VENV) \
	  && awk '/^uv==/ {keep = 1; print; next} keep && /^ / {print; next} {keep = 0}' requirements.txt > $(VENV)/uv-lock.txt \
	  && $(BIN)/python -m pip install --quiet --no-deps --require-hashes -r $(VENV)/uv-lock.txt; }
	$(BIN)/uv pip sync --quiet --require-hashes --python $(BIN)/python requirements.txt
	touch $@

install: $(BIN)/pytest  ## Create .venv with the template's tooling, exactly as requirements.txt pins it

lock: install  ## After a pyproject.toml edit (the template's or a generated one): re-resolve every lock, keeping the other pins
	$(BIN)/python -m tests.locks

refresh-locks: install  ## Move every lock to the newest versions, bake and test every variant, keep the new locks only when green
	$(BIN)/python -m tests.locks --upgrade --venv $(VENV) --report build/lock-changes.md --test $(REFRESH_TESTS)

test: install lint  ## Lint the template, bake every variant and run the whole template suite
	$(BIN)/pytest

test-containers: install  ## Build and run every variant's image and compose stack in a private Docker engine (root; apt: docker.io mmdebstrap)
	FLASKFAST_CONTAINERS=1 $(BIN)/pytest tests/test_containers.py -v -rs -p no:cacheprovider

demo: install  ## Bake a FastAPI service and serve it on 127.0.0.1:8000 with an embedded DB
	$(BIN)/python -m tests.demo $(DEMO_ARGS)

bench: install  ## Benchmark generated services vs bare apps, every variant (~20 min); see bench/README.md
	$(BIN)/python -m bench $(BENCH_ARGS)

bench-smoke: install  ## The benchmark with a few requests per step (what CI runs); results in build/bench/smoke
	$(BIN)/python -m bench --smoke --out build/bench/smoke $(BENCH_ARGS)

bench-list: install  ## The list route's cost at 1k/10k/100k items (page 1, deep page=, deep cursor); bench/reference/listing.md
	$(BIN)/python -m bench.listing $(BENCH_ARGS)

lint: install  ## ruff on the template's own Python (hooks, local_extensions.py, tests, bench)
	$(BIN)/ruff check hooks tests bench local_extensions.py
	$(BIN)/ruff format --check hooks tests bench local_extensions.py

clean:
	rm -rf $(VENV) .cache build
