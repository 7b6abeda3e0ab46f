# Two commands do all the set-up on a fresh Debian machine with Python 3.11:
#   make demo   creates .venv, replays the bundled Hormuz sample feed and prints the alerts
#   make live   runs the daemon on that feed at 60 times real time, HTTP on 127.0.0.1:8080, no broker
#   make test   creates .venv, installs the test and type dependencies, runs ruff, mypy and every test
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo live test venv debs bench screenshot zones sample golden clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import venv, ensurepip' 2>/dev/null || { apt-get update -qq && apt-get install -y -qq python3-venv; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,types]'
	touch $(STAMP)

venv: $(STAMP)

# gpsd-clients gives gpsdecode, the independent decoder of the differential test and the benchmark;
# gpsd is the real daemon the gpsd feed's tests start on a free port;
# mosquitto is the real broker the MQTT tests start on a free port; chromium is the browser the page's
# tests drive through Playwright (which cannot download its own here).
debs:
	@test -x /usr/bin/gpsdecode && test -x /usr/sbin/gpsd && test -x /usr/sbin/mosquitto \
	  && command -v openssl >/dev/null \
	  && test -x /usr/bin/chromium || { \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gpsd-clients gpsd mosquitto openssl \
	  chromium; }

demo: $(STAMP)
	$(BIN)/chokepoint-monitor replay examples/hormuz-sample.nmea.gz --format text

# A fresh state directory each time: the recording starts from its beginning, and a saved feed clock
# days ahead of it (a looped earlier run) would make its first lines wait for confirmation.
live: $(STAMP)
	rm -rf .live-state
	@echo "chokepoint-monitor live: http://127.0.0.1:8080/  (sample feed at 60x real time, no broker;"
	@echo "  API token for acknowledge/snooze/posture: live; Ctrl-C stops)"
	MONITOR_STATE__DIRECTORY=.live-state $(BIN)/chokepoint-monitor run --config examples/live.toml

test: $(STAMP) debs
	$(BIN)/ruff check monitor tests tools bench
	$(BIN)/mypy
	@# Branch coverage of the package, daemon and CLI subprocesses included (see [tool.coverage] in
	@# pyproject.toml): erase leftovers of an interrupted run, merge the per-process files, fail below the floor.
	$(BIN)/python -m coverage erase
	$(BIN)/python -m coverage run -m pytest
	$(BIN)/python -m coverage combine -q
	$(BIN)/python -m coverage report

bench: $(STAMP) debs
	$(BIN)/python bench/run.py

# The operator's page as a reviewer sees it: bench/out/page.png, the daemon fed the sample, 1280x800.
screenshot: $(STAMP) debs
	$(BIN)/python bench/page.py screenshot --out bench/out/page.png

# Rebuild the zone file from ../shared/geodata, and the sample feed from the simulator.
zones: $(STAMP)
	$(BIN)/python tools/build_zones.py

sample: $(STAMP)
	$(BIN)/python tools/simulate.py --sample examples/hormuz-sample.nmea.gz

# After a change meant to alter alerts: rewrite the golden replay and review its diff.
golden: $(STAMP)
	$(BIN)/python tools/regen_golden.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .coverage .coverage.* .live-state
