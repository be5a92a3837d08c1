# Two set-up commands: `make demo` and `make test`. Both create .venv with Python 3.10 when it is missing.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYENV_ROOT ?= $(HOME)/.pyenv

.PHONY: demo test lint install clean

# Python 3.10: PATH first (only if it really runs), then the pyenv versions folder, else a clear message.
define find_python310
$(shell for c in python3.10 $(wildcard $(PYENV_ROOT)/versions/3.10*/bin/python3.10) /usr/bin/python3.10 /usr/local/bin/python3.10; do \
  if command -v $$c >/dev/null 2>&1 && $$c -c 'import sys; assert sys.version_info[:2]==(3,10)' >/dev/null 2>&1; then command -v $$c; break; fi; done)
endef

$(PY):
	@py="$(strip $(find_python310))"; \
	if [ -z "$$py" ]; then \
	  echo "wormchip needs Python 3.10 (lava-nc 0.10 supports nothing newer)." >&2; \
	  echo "Install it, e.g. 'pyenv install 3.10.13' or 'apt-get install python3.10 python3.10-venv', then rerun." >&2; \
	  exit 1; fi; \
	echo "Using $$py"; "$$py" -m venv $(VENV)

$(STAMP): $(PY) pyproject.toml constraints.txt
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[dev]'
	# openpyxl and xlrd (cect reads its spreadsheets with them) go in before cect: pip checks the dependents of
	# whatever it installs with dependencies, so installing them after cect printed a resolver ERROR about the
	# plotting packages cect lists but we leave out. From cect on, only --no-deps installs (no check, no ERROR).
	$(PY) -m pip install -q -c constraints.txt openpyxl xlrd
	# cect (OpenWorm, MIT) without its ~1 GB of plotting deps: only used by the snapshot-equality test.
	$(PY) -m pip install -q -c constraints.txt --no-deps cect==0.3.5
	# wormneuroatlas (GPLv3) only for its data file funatlas.h5 (Randi et al. 2023), read with h5py; its code is never imported.
	$(PY) -m pip install -q -c constraints.txt --no-deps wormneuroatlas==0.0.7.3
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check wormchip tests benchmarks scripts
	$(VENV)/bin/ruff format --check wormchip tests benchmarks scripts

demo: $(STAMP)
	$(VENV)/bin/wormchip demo

test: $(STAMP) lint
	$(VENV)/bin/python -m pytest -q

clean:
	rm -rf $(VENV) .pytest_cache out
