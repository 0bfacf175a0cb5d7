#!/usr/bin/env bash
# Build llama-cpp-python from source once and keep the wheel in a cache outside
# the checkout, so a second `make setup` (or CI on the same machine) reuses it.
set -euo pipefail
version="$1"
cache="${HERON_WHEEL_CACHE:-$HOME/.cache/heron/wheels}"
pip="$2"
mkdir -p "$cache"
if ls "$cache"/llama_cpp_python-"$version"-*.whl >/dev/null 2>&1; then
  echo "llama-cpp-python $version: cached wheel in $cache"
  exit 0
fi
echo "llama-cpp-python $version: compiling llama.cpp (about 5 minutes on 2 cores, once)"
CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" "$pip" wheel --no-deps "llama-cpp-python==$version" -w "$cache"
