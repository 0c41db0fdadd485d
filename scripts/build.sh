#!/usr/bin/env bash
# Configures (once) and builds one CMake preset: scripts/build.sh [release|debug|asan|tsan] [targets...]
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:-release}
shift || true
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/omnirelay-ccache}
export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-5G}
# Paths under the checkout are hashed relative to it, so a second clone or
# worktree at another path reuses the cache. (Nothing relies on __FILE__
# being absolute: tests get fixture paths from CMake definitions.)
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD}
export CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-1}
if [[ ! -f build/$preset/build.ninja ]]; then
  cmake --preset "$preset" >/dev/null
fi
jobs=${OMNI_JOBS:-$(nproc)}
if (($# > 0)); then
  cmake --build --preset "$preset" -j "$jobs" --target "$@"
else
  cmake --build --preset "$preset" -j "$jobs"
fi
