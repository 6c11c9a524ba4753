# Every target sets itself up from a bare Python 3.11: the venv is created on first use and the
# package reinstalled only when pyproject.toml changes, so repeated runs go straight to work.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Touched after a successful install; older than pyproject.toml means the dependencies changed.
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.DEFAULT_GOAL := test
.PHONY: test demo demo-vm vm-tools bench clean

test: $(STAMP)
	$(PY) -m pytest -q $(PYTEST_ARGS)

demo: $(STAMP)
	$(VENV)/bin/scaleset demo

# The same job over real VMs: QEMU (TCG unless KVM really works) and the tiny images built from
# Debian's packages (images/build-tiny.sh, cached after the first build).
demo-vm: $(STAMP) vm-tools
	$(VENV)/bin/scaleset demo --driver qemu --vm-images "$$(bash images/build-tiny.sh | tail -n 1)"

vm-tools:
	@command -v qemu-system-x86_64 >/dev/null && command -v qemu-img >/dev/null && command -v mkfs.ext4 >/dev/null || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing QEMU from Debian's packages"; \
			apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
				qemu-system-x86 qemu-utils e2fsprogs; \
		else \
			echo "make demo-vm needs QEMU: apt-get install --no-install-recommends qemu-system-x86 qemu-utils e2fsprogs" >&2; \
			exit 1; \
		fi; \
	}

# Files starting with "_" are helpers shared by the scripts, not benchmarks.
bench: $(STAMP)
	@set -e; found=0; \
	for script in bench/*.py; do \
		[ -e "$$script" ] || continue; \
		case "$$(basename "$$script")" in _*) continue;; esac; \
		found=1; echo "==> $$script"; $(PY) "$$script"; \
	done; \
	if [ "$$found" = 0 ]; then echo "no benchmarks in bench/ yet"; fi

clean:
	rm -rf $(VENV) .scaleset .pytest_cache .hypothesis build dist src/*.egg-info
	find . -path ./.git -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --disable-pip-version-check -e '.[test,bench]'
	touch $@

# Debian's python3 ships venv without ensurepip unless python3-venv is installed; fetch it when we
# can (root with apt) rather than fail on a fresh machine.
$(PY):
	@$(PYTHON) -m venv $(VENV) || { \
		rm -rf $(VENV); \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "python venv unavailable; installing python3-venv"; \
			apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y python3-venv \
				&& $(PYTHON) -m venv $(VENV); \
		else \
			echo "cannot create $(VENV): install your distribution's python3-venv package" >&2; \
			exit 1; \
		fi; \
	}
