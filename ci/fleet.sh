#!/usr/bin/env bash
# Merge several runs' allure-results (one per lab decoder) into one Allure report, each device an
# Allure environment, then gate on every device's summary.
#   ci/fleet.sh OUT_DIR RUN_DIR...
# Each RUN_DIR is one device's artifacts folder as ci/nightly.sh (or the fleet job) leaves it:
# RUN_DIR/allure-results and RUN_DIR/summary.json. Writes OUT_DIR/html. Exit status: 1 if a MUST
# requirement failed on any device, 2 if a device's run left no summary, else 0.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [ $# -lt 2 ]; then
  echo "usage: ci/fleet.sh OUT_DIR RUN_DIR..." >&2
  exit 2
fi
OUT=$1
shift
results=()
for run in "$@"; do
  if [ -d "$run/allure-results" ]; then
    results+=("$run/allure-results")
  else
    echo "fleet: $run has no allure-results (its run did not start?)" >&2
  fi
done
if [ ${#results[@]} -eq 0 ]; then
  echo "fleet: no allure-results to merge" >&2
  exit 2
fi
"$ROOT/bin/report" --merge "$OUT" "${results[@]}" || exit 2
worst=0
for run in "$@"; do
  echo "== $run"
  python3 "$ROOT/ci/must_gate.py" "$run/summary.json"
  status=$?
  # 1 (a MUST failed) outranks 2 (a run that left nothing to judge).
  if [ "$status" -eq 1 ] || { [ "$status" -eq 2 ] && [ "$worst" -eq 0 ]; }; then worst=$status; fi
done
exit "$worst"
