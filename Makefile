# Set-up and main jobs. `make demo` and `make test` work on a fresh machine with Python >= 3.11.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# `make setup WARMUP=0` skips `mlmix warmup` (compiling once the C modules every family shares, ~3 min)
WARMUP ?= 1

.PHONY: setup demo test test-fast bench clean docs

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	bash scripts/system-deps.sh
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test,bench,docs]"
	if [ "$(WARMUP)" != 0 ]; then $(VENV)/bin/mlmix warmup; fi
	touch $@

demo: setup            ## fit the embedded LSAT example and print the Mplus-style summary
	$(VENV)/bin/mlmix demo

test: setup            ## the whole test suite (slow statistical checks included), as CI runs it
	$(PY) -m pytest -q -ra -n auto --dist loadfile --durations=25

test-fast: setup       ## skip the tests marked slow
	$(PY) -m pytest -q -m "not slow"

docs: setup            ## the documentation site (build/docs); warnings and broken references are errors
	$(PY) -m sphinx -W --keep-going -n -b html -q docs build/docs

bench: setup
	$(PY) benchmarks/lca.py

clean:
	rm -rf $(VENV) build *.egg-info
