# The two commands a new engineer needs: `make demo` and `make test`.
# Each builds its own environment in .venv from pyproject.toml first.
PY      := .venv/bin/python
STAMP   := .venv/.installed
PORT    ?= /dev/ttyACM0

.PHONY: demo test lint typecheck unit hil faults soak bench setup browser heaptrack clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	python3 -m venv .venv
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	# Each board's MicroPython stubs on their own: the two packages overwrite each other.
	$(PY) -m pip install --quiet --no-deps --target .venv/board-stubs/esp32 micropython-esp32-stubs==1.29.0.post1
	$(PY) -m pip install --quiet --no-deps --target .venv/board-stubs/rp2 micropython-rp2-stubs==1.29.0.post1
	touch $(STAMP)

# Browser tests use Debian's chromium and its matching chromedriver.
browser:
	@sh scripts/ensure_chromium.sh

# The node TLS heap test profiles mbedTLS with Debian's heaptrack.
heaptrack:
	@sh scripts/ensure_heaptrack.sh

demo: $(STAMP)
	.venv/bin/kizashi demo

lint: $(STAMP)
	.venv/bin/ruff check kizashi gateway protocol fleet_web tests hil_tests bench conftest.py
	.venv/bin/ruff format --check kizashi gateway protocol fleet_web tests hil_tests bench conftest.py

typecheck: $(STAMP)
	.venv/bin/mypy

test: $(STAMP) browser heaptrack lint typecheck
	KIZASHI_NO_SKIP=1 $(PY) -m pytest -q tests hil_tests --junitxml=artifacts/junit.xml

hil: $(STAMP)
	$(PY) -m pytest -q hil_tests --board $(PORT) --junitxml=artifacts/hil-junit.xml

faults: $(STAMP)
	$(PY) -m bench.faults --full

soak: $(STAMP)
	$(PY) -m bench.faults --soak-hours $(HOURS)

clean:
	rm -rf .venv artifacts .pytest_cache .mypy_cache .ruff_cache
