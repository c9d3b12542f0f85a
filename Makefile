# `make demo` and `make test` set everything up on a fresh machine; both are idempotent.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
PLUGINS := $(sort $(dir $(wildcard plugins/*/pyproject.toml)))
STAMP := $(VENV)/.assetforge-installed
# torch 2.14.1 + torchvision 0.29.1 install from this machine's local wheels (spandrel needs both).
TORCH := torch==2.14.1 torchvision==0.29.1

.PHONY: setup demo test lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml $(addsuffix pyproject.toml,$(PLUGINS)) Makefile
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q $(TORCH)
	$(PIP) install -q -e '.[dev,s3]' $(addprefix -e ./,$(PLUGINS))
	$(PIP) install -q -e './plugins/ray[ray]'
	touch $(STAMP)

demo: setup
	cd projects/demo && ../../$(VENV)/bin/assetforge build

test: setup
	$(VENV)/bin/ruff check assetforge plugins tests bench projects
	$(VENV)/bin/pytest -q

lint: setup
	$(VENV)/bin/ruff check assetforge plugins tests bench projects

bench: setup
	for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache projects/demo/assets projects/demo/.assetforge
