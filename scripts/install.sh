#!/usr/bin/env bash
# Install Intelli Assets into .venv at the project root (and Chromium for rendering).
#   scripts/install.sh          runtime only
#   scripts/install.sh --test   plus the test tools and PostgreSQL's server (the tests start one)
set -euo pipefail
cd "$(dirname "$0")/.."
# the UI test drives the system Chromium with Playwright: never download Playwright's browsers
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1

extras=""
[ "${1:-}" = "--test" ] && extras="[test]"
python_bin="${PYTHON:-python3}"
sudo_cmd=""
[ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && sudo_cmd="sudo"

apt_updated=""
apt_install() {
  command -v apt-get >/dev/null 2>&1 || return 1
  [ -n "$apt_updated" ] || { $sudo_cmd apt-get update -qq && apt_updated=1; }
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "$@" >/dev/null
}

if ! "$python_bin" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "!! Python 3.11 or newer is needed (found: $("$python_bin" --version 2>&1)); set PYTHON=/path/to/python3.11" >&2
  exit 1
fi

have_browser() {
  [ -n "${BROWSER_PATH:-}" ] && [ -x "${BROWSER_PATH}" ] && return 0
  for b in chromium chromium-browser google-chrome google-chrome-stable chrome; do
    command -v "$b" >/dev/null 2>&1 && return 0
  done
  return 1
}

if ! have_browser; then
  echo "==> installing Debian's chromium (charts are rendered by a real Chromium)"
  if ! apt_install chromium fonts-liberation; then
    echo "!! no Chromium found. Install Chromium or Google Chrome, or set BROWSER_PATH to one." >&2
    echo "   (macOS: brew install --cask chromium; Fedora: dnf install chromium)" >&2
    exit 1
  fi
fi

# Chinese, Japanese and Korean names and emoji in a source print as empty boxes without these
# (fonts-noto-cjk: 57 MB download; fonts-noto-color-emoji: 10 MB)
missing_fonts=""
for font in fonts-noto-cjk fonts-noto-color-emoji; do
  dpkg -s "$font" >/dev/null 2>&1 || missing_fonts="$missing_fonts $font"
done
if [ -n "$missing_fonts" ] && command -v apt-get >/dev/null 2>&1; then
  echo "==> installing fonts for CJK names and emoji:$missing_fonts"
  # shellcheck disable=SC2086 # one package per word
  apt_install $missing_fonts || echo "!! could not install$missing_fonts: CJK text and emoji will print as boxes" >&2
fi

# the tests start their own PostgreSQL from Debian's binaries (intelli_assets_tests/postgres.py);
# the package's default cluster is not wanted: nothing would use it
have_debian_postgres() {
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null
}
if [ -n "$extras" ] && ! have_debian_postgres; then
  echo "==> installing Debian's postgresql (the tests start a real PostgreSQL)"
  if apt_install postgresql-common; then
    $sudo_cmd sed -i 's/^#* *create_main_cluster *=.*/create_main_cluster = false/' \
      /etc/postgresql-common/createcluster.conf
    apt_install postgresql
  elif ! command -v initdb >/dev/null 2>&1; then
    echo "!! no PostgreSQL server found. Install it (Debian/Ubuntu: apt-get install postgresql;" >&2
    echo "   macOS: brew install postgresql) so that initdb and pg_ctl are on PATH." >&2
    exit 1
  fi
fi

# uv when it is there or pip can bring it; otherwise the standard venv + pip
if ! command -v uv >/dev/null 2>&1; then
  "$python_bin" -m pip install --quiet uv 2>/dev/null \
    || "$python_bin" -m pip install --quiet --user uv 2>/dev/null \
    || "$python_bin" -m pip install --quiet --user --break-system-packages uv 2>/dev/null \
    || true
  export PATH="$HOME/.local/bin:$PATH"
fi

if command -v uv >/dev/null 2>&1; then
  [ -x .venv/bin/python ] || uv venv --quiet --python "$python_bin" .venv
  # bytecode is compiled at install time: this environment may set PYTHONDONTWRITEBYTECODE,
  # which makes every start of a fresh venv ~3x slower
  UV_COMPILE_BYTECODE=1 uv pip install --quiet --python .venv/bin/python -e ".${extras}"
else
  if [ ! -x .venv/bin/python ]; then
    "$python_bin" -m venv .venv 2>/dev/null || { apt_install python3-venv && "$python_bin" -m venv .venv; }
  fi
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e ".${extras}"
  .venv/bin/python -m compileall -q -j 0 .venv/lib >/dev/null || true
fi
.venv/bin/python -m compileall -q -j 0 intelli_assets >/dev/null
echo "==> installed: .venv/bin/intelli ($(.venv/bin/python -c 'import dagster; print("dagster", dagster.__version__)'))"
