#!/usr/bin/env bash
# Quickstart, first command: install what is missing, build, run the main job.
# The control-plane daemon lands with its own issue; until then the main job is
# the offline validator over the bundled samples.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/build.sh release omnirctl
omnirctl=build/release/src/cli/omnirctl
echo
"$omnirctl" --help
echo
echo "\$ $omnirctl config validate -f samples/layers/00-global.json -f samples/layers/10-region-eu-west.json -f samples/layers/20-cell-euw1-a.json -f samples/layers/30-cluster-billing-eu.json"
"$omnirctl" config validate -f samples/layers/00-global.json -f samples/layers/10-region-eu-west.json \
  -f samples/layers/20-cell-euw1-a.json -f samples/layers/30-cluster-billing-eu.json
echo "\$ $omnirctl config validate -f samples/broken/dangling_cluster.json"
"$omnirctl" config validate -f samples/broken/dangling_cluster.json || echo "(exit $? = invalid, as expected)"
