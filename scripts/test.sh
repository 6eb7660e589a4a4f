#!/usr/bin/env bash
# Set up everything the test suite needs on a fresh Debian machine, then run it all.
# This is the README's test command and exactly what CI (.ci/run) runs.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_install() {
    if [ "$(id -u)" -eq 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
    else
        sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
    fi
}

# The integration tests start a real InfluxDB 1.x server (Debian's influxdb package).
command -v influxd >/dev/null 2>&1 || apt_install influxdb
# Its CLI writes the CSV export that `udfs replay` reads (tests/io/test_influx_export.py).
command -v influx >/dev/null 2>&1 || apt_install influxdb-client
# The page test drives a real headless Chromium through Selenium (Debian's chromium + driver).
command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 || apt_install chromium chromium-driver
python3 -c 'import venv, ensurepip' 2>/dev/null || apt_install python3-venv
# The real-Kapacitor tests unpack ../shared/kapacitor (xz-compressed) into a temp dir.
command -v xz >/dev/null 2>&1 || apt_install xz-utils

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[dev]'

# A missing influxd or Kapacitor must fail the run, never skip the integration tests.
export UDFS_REQUIRE_INFLUXDB=1 UDFS_REQUIRE_KAPACITOR=1
.venv/bin/ruff check .
.venv/bin/python -m pytest "$@"
