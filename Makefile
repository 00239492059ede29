# hotspot_env: two commands for a newcomer (see README.md).
#   make app   -> virtual environment, install, open the app on the embedded demo
#   make test  -> virtual environment, install with test tools + Debian chromium, full test suite
#   make check -> lint + every test but the browser ones, on all cores (the fast loop)
VENV ?= .venv
PY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
PORT ?= 8501

.PHONY: app test check install install-test chromium lint bench demo screenshots

$(VENV)/bin/python:
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

install: $(VENV)/bin/python
	$(PY) -m pip install --quiet -e ".[app]"

install-test: $(VENV)/bin/python
	$(PY) -m pip install --quiet -e ".[test]"

# Debian packages: chromium for the browser tests; Pango for WeasyPrint's PDF work orders.
DEBS := chromium fonts-dejavu-core libpango-1.0-0 libpangoft2-1.0-0
chromium:
	@command -v chromium >/dev/null 2>&1 && dpkg -s libpangoft2-1.0-0 >/dev/null 2>&1 || { \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(DEBS) >/dev/null; }

# Bound to localhost: a single-user run (staff, no sign-in). To serve others, see docs/deployment.md.
app: install
	$(VENV)/bin/hotspot-env check-access --address localhost
	$(VENV)/bin/streamlit run app.py --server.address localhost --server.port $(PORT)

test: install-test chromium
	$(PY) -m pytest

check: install-test
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -n auto -m "not browser" -q

lint: install-test
	$(VENV)/bin/ruff check .

demo: install
	$(VENV)/bin/hotspot-env demo --out out/demo

bench: install-test
	$(VENV)/bin/hotspot-env bench --scale quick

# The README's pictures: the browser tests, told to save their screenshots into docs/screenshots/.
screenshots: install-test chromium
	HOTSPOT_ENV_SCREENSHOTS=1 $(PY) -m pytest -q tests/test_app_pages.py tests/test_app_national_browser.py
