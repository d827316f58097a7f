# vmapp-build: set-up, the main job, tests. Every target installs what it needs, idempotently.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DISTRO ?= debian-12
RECIPE ?= jq
OUT ?= dist
POLICY ?= patch
JOBS ?= 1
REPORT ?= $(OUT)/report.json
RECIPES ?=
DISTROS ?=
export TESTCONTAINERS_RYUK_DISABLED := true

.PHONY: all setup venv engine emulation image image-arm64 demo packages package nightly test test-fast lint cache-proxy bench bench-cache bench-rebuild bench-rpm bench-publish bench-jobs bench-size bench-split bench-arm64 clean

# A make value as one shell word: inside '...', each ' becomes '\''. Use it for every variable a user may set.
quote = '$(subst ','\'',$(1))'
REBUILD = $(BIN)/vmapp-build rebuild --out $(call quote,$(OUT)) --version-policy $(call quote,$(POLICY)) \
	--jobs $(call quote,$(JOBS))
# `make packages` and `make nightly` take RECIPES="jq git" and DISTROS="debian-12" (space-separated) to narrow.
CATALOGUE = $(foreach d,$(DISTROS),--distro $(call quote,$(d))) -- $(foreach r,$(RECIPES),$(call quote,$(r)))

all: demo

setup: venv engine image

# The venv is rebuilt when pyproject.toml changes.
venv: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

engine:
	sh scripts/ensure-engine.sh

# arm64 containers under qemu-user-static: binfmt_misc mounted and the aarch64 handler registered.
emulation:
	sh scripts/ensure-binfmt.sh

# The base images are built locally (no registry here): debootstrap + docker import, once.
image: venv engine
	docker image inspect debian:12 >/dev/null 2>&1 || $(BIN)/vmapp-build image bootstrap debian-12
	docker image inspect debian:11 >/dev/null 2>&1 || $(BIN)/vmapp-build image bootstrap debian-11

# debian-12/arm64's image (about 2 CPU-minutes of qemu, once): what arm64 builds and tests/test_arm64.py
# run in. Only the tests and the arm64 benchmark need it: `make demo` builds for amd64.
image-arm64: venv engine emulation
	docker image inspect arm64v8/debian:12 >/dev/null 2>&1 || $(BIN)/vmapp-build image bootstrap debian-12/arm64

# The main job: build a shipped recipe for $(DISTRO) and prove it installs with no network.
demo: setup
	$(BIN)/vmapp-build recipe $(call quote,$(RECIPE)) --distro $(call quote,$(DISTRO)) --out $(call quote,$(OUT)) --verify

# The catalogue (README, "Nightly catalogue"): rebuild skips every entry whose lock still matches, so a
# second run builds nothing new. All recipes times their targets:
packages: setup
	$(REBUILD) $(CATALOGUE)

# One recipe for one target: make package RECIPE=git DISTRO=debian-11
package: setup
	$(REBUILD) --distro $(call quote,$(DISTRO)) -- $(call quote,$(RECIPE))

# What the nightly workflow runs per entry, for the whole catalogue: rebuild, verify each new version
# from the one before, then print report.json; the exit code is rebuild's.
nightly: setup
	status=0; $(REBUILD) --verify --report $(call quote,$(REPORT)) $(CATALOGUE) || status=$$?; \
	if [ -f $(call quote,$(REPORT)) ]; then $(BIN)/python -m json.tool $(call quote,$(REPORT)); fi; \
	exit "$$status"

# One shared caching proxy for every builder: Debian's apt-cacher-ng in a container (README, Shared proxy).
cache-proxy: engine
	sh scripts/cache-proxy.sh

# Style, format, types (the package, its tests and benchmarks), the import layers (pyproject.toml), and
# the workflows: actionlint, with shellcheck over their run: scripts.
lint: venv
	$(BIN)/ruff check builder tests benchmarks
	$(BIN)/ruff format --check builder tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/actionlint -shellcheck $(BIN)/shellcheck .github/workflows/*.yml

# Every test: the engine and images (setup), and npm, with which tests/azurite.py installs Azurite.
test: setup image-arm64 lint
	$(BIN)/pytest

# Unit tests only: neither a Docker engine nor npm (Azurite) needed.
test-fast: venv
	$(BIN)/pytest -m "not docker and not azurite"

# Each prints vmapp-build against the plain path doing the same work, as a ratio in one run.
bench: setup
	PYTHONPATH=. $(BIN)/python benchmarks/bench_apt.py
	PYTHONPATH=. $(BIN)/python benchmarks/bench_apt.py --memory

bench-cache: setup
	PYTHONPATH=. $(BIN)/python benchmarks/bench_cache.py

bench-rebuild: setup
	PYTHONPATH=. $(BIN)/python benchmarks/bench_rebuild.py

bench-rpm: setup
	PYTHONPATH=. $(BIN)/python benchmarks/bench_rpm.py

bench-jobs: setup
	PYTHONPATH=. $(BIN)/python benchmarks/bench_jobs.py

bench-size: setup
	PYTHONPATH=. $(BIN)/python benchmarks/bench_size.py

# The same recipe built for debian-12 and debian-12/arm64 (qemu): the time of each and their ratio.
bench-arm64: setup image-arm64
	PYTHONPATH=. $(BIN)/python benchmarks/bench_arm64.py

bench-publish: venv
	PYTHONPATH=. $(BIN)/python benchmarks/bench_publish.py

# A closure over Azure's 2 GB (texlive-full on debian-12), split into ordered parts: several GB downloaded.
bench-split: setup
	PYTHONPATH=. $(BIN)/python benchmarks/bench_split.py

clean:
	rm -rf $(call quote,$(OUT)) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
