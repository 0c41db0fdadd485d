#!/usr/bin/env bash
# Configures (once) and builds one CMake preset: scripts/build.sh [release|debug|asan|tsan] [targets...]
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:-release}
shift || true
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/omnirelay-ccache}
export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-5G}
# No CCACHE_BASEDIR: it would make __FILE__ relative, and tests find their
# fixtures from __FILE__. A clone at a new path therefore starts its cache cold.
if [[ ! -f build/$preset/build.ninja ]]; then
  cmake --preset "$preset" >/dev/null
fi
jobs=${OMNI_JOBS:-$(nproc)}
if (($# > 0)); then
  cmake --build --preset "$preset" -j "$jobs" --target "$@"
else
  cmake --build --preset "$preset" -j "$jobs"
fi
