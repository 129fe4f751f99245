#!/usr/bin/env bash
# Install Intelli Assets into .venv at the project root (and Chromium for rendering).
#   scripts/install.sh          runtime only
#   scripts/install.sh --test   plus the test tools
set -euo pipefail
cd "$(dirname "$0")/.."

extras=""
[ "${1:-}" = "--test" ] && extras="[test]"

have_browser() {
  [ -n "${BROWSER_PATH:-}" ] && [ -x "${BROWSER_PATH}" ] && return 0
  for b in chromium chromium-browser google-chrome google-chrome-stable chrome; do
    command -v "$b" >/dev/null 2>&1 && return 0
  done
  return 1
}

if ! have_browser; then
  if command -v apt-get >/dev/null 2>&1; then
    echo "==> installing Debian's chromium (charts are rendered by a real Chromium)"
    sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq chromium fonts-liberation >/dev/null
  else
    echo "!! no Chromium found. Install Chromium or Google Chrome, or set BROWSER_PATH to one." >&2
    echo "   (macOS: brew install --cask chromium; Fedora: dnf install chromium)" >&2
    exit 1
  fi
fi

if ! command -v uv >/dev/null 2>&1; then
  echo "==> installing uv"
  python3 -m pip install --quiet uv 2>/dev/null || python3 -m pip install --quiet --user uv
  export PATH="$HOME/.local/bin:$PATH"
fi

python_bin="${PYTHON:-python3}"
[ -x .venv/bin/python ] || uv venv --quiet --python "$python_bin" .venv
# bytecode is compiled at install time: this environment may set PYTHONDONTWRITEBYTECODE,
# which makes every start of a fresh venv ~3x slower
UV_COMPILE_BYTECODE=1 uv pip install --quiet --python .venv/bin/python -e ".${extras}"
.venv/bin/python -m compileall -q -j 0 intelli_assets >/dev/null
echo "==> installed: .venv/bin/intelli ($(.venv/bin/python -c 'import dagster; print("dagster", dagster.__version__)'))"
