# Shared by bin/conformance and bin/test: create or refresh the project's virtual environment and
# install what the project needs (Python packages; Debian packages when run as root).
# Sourced, not executed. Sets ROOT and VENV; prepends the venv to PATH.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${DECODER_VENV:-$ROOT/.venv}
export PIP_DISABLE_PIP_VERSION_CHECK=1 ALLURE_NO_ANALYTICS=true

# Debian packages the suite's peers use: SIPp (sip-tester, which brings libpcap for scapy capture).
read -r -a DEBIAN_PACKAGES <<< "${DECODER_DEBIAN_PACKAGES:-sip-tester tshark}"

pick_python() {
  for candidate in python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; raise SystemExit(not ((3, 11) <= sys.version_info[:2] <= (3, 12)))' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  echo "error: Python 3.11 or 3.12 is needed (pjsua2-python has wheels for 3.10-3.12 only)" >&2
  return 1
}

ensure_debian_packages() {
  local missing=()
  for pkg in "${DEBIAN_PACKAGES[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "note: Debian packages missing (${missing[*]}); run as root or install them: cases that need them will report broken" >&2
    return 0
  fi
  echo "installing Debian packages: ${missing[*]}" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

ensure_venv() {
  local python stamp want
  python=$(pick_python)
  if [ ! -x "$VENV/bin/python" ]; then
    echo "creating virtual environment $VENV" >&2
    "$python" -m venv "$VENV"
  fi
  # Reinstall only when the dependency list changed (or the last install did not finish).
  stamp="$VENV/.decoder-deps"
  want=$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "installing Python packages into $VENV" >&2
    "$VENV/bin/python" -m pip install -q -U pip
    "$VENV/bin/python" -m pip install -q -e "$ROOT[dev]"
    echo "$want" > "$stamp"
  fi
  export PATH="$VENV/bin:$PATH"
}

ensure_debian_packages
ensure_venv
cd "$ROOT"
