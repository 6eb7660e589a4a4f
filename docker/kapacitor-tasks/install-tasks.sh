#!/bin/bash
# Define and enable the demo tasks in Kapacitor (the compose stack's one-shot `tasks`
# service): the shipped TICKscripts, pointed at the demo data by a vars file each.
# Safe to run again: `kapacitor define` replaces a task of the same name.
# Usage: KAPACITOR_URL=http://localhost:9092 docker/kapacitor-tasks/install-tasks.sh
set -euo pipefail

KAPACITOR_URL=${KAPACITOR_URL:-http://localhost:9092}
TICKSCRIPTS=${TICKSCRIPTS:-/tickscripts}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

for attempt in $(seq 1 60); do
    if kapacitor -url "$KAPACITOR_URL" list tasks >/dev/null 2>&1; then
        break
    fi
    if [ "$attempt" -eq 60 ]; then
        echo "Kapacitor at $KAPACITOR_URL did not answer for 2 minutes" >&2
        exit 1
    fi
    sleep 2
done

define() {  # define NAME TICKSCRIPT VARS
    kapacitor -url "$KAPACITOR_URL" define "$1" -tick "$TICKSCRIPTS/$2" -vars "$HERE/$3"
    kapacitor -url "$KAPACITOR_URL" enable "$1"
    echo "task $1 ($2 with $3) defined and enabled"
}

define printer_temperature_mad mad.tick printer_temperature.json
define printer_humidity_zscore zscore.tick printer_humidity.json
define printer_ink_mad mad.tick printer_ink_level.json
define adsl_edge edge.tick adsl_edge.json
