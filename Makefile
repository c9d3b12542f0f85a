# `make demo` sets up the runtime only (AssetForge, its plugins, torch) and builds the demo;
# `make test` (through `setup-test`) adds what only the tests use: browsers, Tiled, Godot, Ray,
# moto, Playwright, npm packages. Both are idempotent.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
PLUGINS := $(sort $(dir $(wildcard plugins/*/pyproject.toml)))
STAMP := $(VENV)/.assetforge-runtime
TEST_STAMP := $(VENV)/.assetforge-test
# torch 2.14.1 + torchvision 0.29.1 install from this machine's local wheels (spandrel needs both).
TORCH := torch==2.14.1 torchvision==0.29.1
# Test-only set-up (`make setup-test`): real consumers in tests (engines, browsers, map
# editors). Branches append what they need; each list is de-duplicated, and only what is
# missing is installed.
APT_PACKAGES += chromium tiled
TEST_PIP += playwright pytmx tomlkit imagehash
NPM_DIRS += tests/js
# terrain: the Godot 3 engine (headless) loads the exported TileSets; parsers for .tsx and .tres.
APT_PACKAGES += godot3-server
TEST_PIP += pytiled-parser godot-parser
NPM_DIRS += tests/taplo
# Extras a plugin is installed with for the tests ('-e ./plugins/NAME[EXTRAS]'): cutout's
# rembg[cpu] (method = "rembg") and onnx (its tests build a tiny ONNX model); ray.
PLUGIN_EXTRAS_cutout := [rembg,testing]
PLUGIN_EXTRAS_ray := [ray]
plugin_arg = -e './$(1:/=)'
plugin_test_arg = -e './$(1:/=)$(PLUGIN_EXTRAS_$(notdir $(1:/=)))'

.PHONY: setup setup-runtime setup-test system-packages demo test lint bench docs clean

# The runtime: what `assetforge build` needs, nothing a test alone uses.
setup-runtime: $(STAMP)

$(STAMP): constraints.txt pyproject.toml $(addsuffix pyproject.toml,$(PLUGINS)) Makefile
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q $(TORCH)
	$(PIP) install -q -c constraints.txt -e . $(foreach p,$(PLUGINS),$(call plugin_arg,$(p)))
	touch $(STAMP)

setup-test: $(TEST_STAMP) system-packages $(addsuffix /node_modules/.package-lock.json,$(NPM_DIRS))

$(TEST_STAMP): $(STAMP)
	$(PIP) install -q -c constraints.txt -e '.[dev,s3]' \
		$(foreach p,$(PLUGINS),$(call plugin_test_arg,$(p)))
	$(PIP) install -q -c constraints.txt $(sort $(TEST_PIP))
	touch $(TEST_STAMP)

# Everything (runtime and tests), as before.
setup: setup-test

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

demo: setup-runtime
	cd projects/demo && ../../$(VENV)/bin/assetforge build

test: setup-test
	$(VENV)/bin/ruff check assetforge plugins tests bench projects
	$(VENV)/bin/pytest -q

lint: setup-test
	$(VENV)/bin/ruff check assetforge plugins tests bench projects

bench: setup-test
	for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

# The docs' screenshots, from the browser tests (the suite itself writes only into temp
# folders): the review page (docs/review.png) and the live page of assetforge serve
# (docs/serve.png).
docs: setup-test
	ASSETFORGE_DOCS_SCREENSHOT=$(CURDIR)/docs/review.png \
		$(VENV)/bin/pytest -q tests/test_review.py -k test_review_page_in_chromium
	ASSETFORGE_SCREENSHOT=$(CURDIR)/docs/serve.png $(VENV)/bin/pytest -q tests/test_serve_page.py

clean:
	rm -rf $(VENV) .pytest_cache projects/demo/assets projects/demo/.assetforge \
		$(addsuffix /node_modules,$(NPM_DIRS))
