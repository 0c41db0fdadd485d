#!/usr/bin/env bash
# Quickstart, second command: install what is missing, build, run every test.
#   1. release build (gcc): unit, property, fuzz-corpus and integration tests;
#   2. asan build (clang, ASan+UBSan): the same suites under sanitizers, plus a
#      short libFuzzer run of each fuzz target.
# OMNI_TEST_SANITIZERS=0 skips step 2 for a quicker local loop.
# Exits non-zero on any failure; ctest prints its summary for each step.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
export CTEST_OUTPUT_ON_FAILURE=1
jobs=${OMNI_JOBS:-$(nproc)}

start=$SECONDS
echo "== release build"
./scripts/build.sh release
echo "== release tests"
ctest --test-dir build/release -j "$jobs" --timeout 300

if [[ ${OMNI_TEST_SANITIZERS:-1} != 0 ]]; then
  echo "== asan build (ASan + UBSan)"
  ./scripts/build.sh asan
  echo "== asan tests"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build/asan -j "$jobs" --timeout 600
fi
echo "== all tests passed in $((SECONDS - start)) s"
