# `make demo` and `make test` set everything up on a fresh machine; both are idempotent.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
PLUGINS := $(sort $(dir $(wildcard plugins/*/pyproject.toml)))
STAMP := $(VENV)/.assetforge-installed
# torch 2.14.1 + torchvision 0.29.1 install from this machine's local wheels (spandrel needs both).
TORCH := torch==2.14.1 torchvision==0.29.1
# Real consumers in tests (engines, browsers, map editors). Branches append what they need;
# each list is de-duplicated, and only what is missing is installed.
APT_PACKAGES += chromium tiled
TEST_PIP += playwright pytmx tomlkit imagehash
NPM_DIRS += tests/js
# terrain: the Godot 3 engine (headless) loads the exported TileSets; parsers for .tsx and .tres.
APT_PACKAGES += godot3-server
TEST_PIP += pytiled-parser godot-parser
NPM_DIRS += tests/taplo
# Extras a plugin is installed with ('-e ./plugins/NAME[EXTRAS]'), where the tests need them:
# cutout's rembg[cpu] (method = "rembg") and onnx (its tests build a tiny ONNX model); ray.
PLUGIN_EXTRAS_cutout := [rembg,testing]
PLUGIN_EXTRAS_ray := [ray]
plugin_arg = -e './$(1:/=)$(PLUGIN_EXTRAS_$(notdir $(1:/=)))'

.PHONY: setup system-packages demo test lint bench clean

setup: $(STAMP) system-packages $(addsuffix /node_modules/.package-lock.json,$(NPM_DIRS))

$(STAMP): constraints.txt pyproject.toml $(addsuffix pyproject.toml,$(PLUGINS)) Makefile
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q $(TORCH)
	$(PIP) install -q -c constraints.txt -e '.[dev,s3]' $(foreach p,$(PLUGINS),$(call plugin_arg,$(p)))
	$(PIP) install -q -c constraints.txt $(sort $(TEST_PIP))
	touch $(STAMP)

# Debian packages, installed (as root) only when one is missing. Playwright drives the system
# chromium (executable_path="/usr/bin/chromium") and never downloads a browser.
system-packages:
	@missing=""; for p in $(sort $(APT_PACKAGES)); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' \
	    || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; apt-get update -q && apt-get install -y -q $$missing; fi

# npm packages from a committed package.json + lock, into a git-ignored node_modules.
%/node_modules/.package-lock.json: %/package-lock.json %/package.json
	cd $* && npm ci --no-audit --no-fund
	touch $@

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
	rm -rf $(VENV) .pytest_cache projects/demo/assets projects/demo/.assetforge \
		$(addsuffix /node_modules,$(NPM_DIRS))

# The README's screenshot of the live page (assetforge serve), taken by its browser test.
.PHONY: docs
docs: setup
	ASSETFORGE_SCREENSHOT=$(CURDIR)/docs/serve.png $(VENV)/bin/pytest -q tests/test_serve_page.py
