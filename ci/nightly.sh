#!/usr/bin/env bash
# Nightly run for any CI system (Jenkins, GitLab CI, ...): what .github/workflows/nightly.yml does.
#   ci/nightly.sh [ARTIFACTS_DIR] [-- bin/conformance arguments]
# 1. bin/conformance: installs with the README's command (bin/_env.sh) and runs the full suite
#    against the bundled reference decoder (or the --device given after --);
# 2. collects the HTML report, summary.md/.json, junit.xml, allure-results and the pcaps into
#    ARTIFACTS_DIR (default artifacts/);
# 3. the MUST gate: exits 1 if and only if a MUST requirement failed (ci/must_gate.py), 2 if the
#    run did not finish (no summary, a usage error, the target unavailable), 0 otherwise. SHOULD
#    and practice failures, broken cases and findings are reported, they do not fail the night.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ARTIFACTS=$ROOT/artifacts
if [ $# -gt 0 ] && [ "$1" != "--" ]; then ARTIFACTS=$1; shift; fi
[ "${1:-}" = "--" ] && shift
# The folder is emptied before the collection: never the run's own reports or a folder that
# holds anything but an earlier collection (collect_artifacts.py leaves .nightly-artifacts in it).
case "$(cd "$(dirname "$ARTIFACTS")" 2>/dev/null && pwd)/$(basename "$ARTIFACTS")" in
  "$ROOT/reports" | "$ROOT" | / ) echo "nightly: refusing to use $ARTIFACTS for artifacts" >&2; exit 2 ;;
esac
if [ -d "$ARTIFACTS" ] && [ -n "$(ls -A "$ARTIFACTS")" ] && [ ! -f "$ARTIFACTS/.nightly-artifacts" ]; then
  echo "nightly: $ARTIFACTS is not empty and is not an earlier collection; not emptying it" >&2
  exit 2
fi

"$ROOT/bin/conformance" "$@"
status=$?
rm -rf "$ARTIFACTS"
python3 "$ROOT/ci/collect_artifacts.py" "$ROOT/reports" "$ARTIFACTS"
# pytest's 0 and 1 mean the run finished (1: some case failed or broke); anything else means it
# did not (2 interrupted, 3 internal error or target unavailable, 4 usage error, 5 no case).
if [ "$status" -gt 1 ]; then
  echo "nightly: bin/conformance did not finish (exit status $status); see its output above" >&2
  python3 "$ROOT/ci/must_gate.py" "$ROOT/reports/summary.json" || true
  exit 2
fi
python3 "$ROOT/ci/must_gate.py" "$ROOT/reports/summary.json"
