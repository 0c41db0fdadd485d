#!/usr/bin/env bash
# Quickstart, first command: install what is missing, build, and run the
# control plane in the foreground on its embedded defaults (SQLite store in
# ./var/controlplane, gRPC 127.0.0.1:7443, REST 127.0.0.1:7080). Ctrl-C stops it.
# Extra arguments go to the daemon, e.g. scripts/run.sh --log-format json
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/build.sh release controlplane omnirctl
cat <<'HINT'

controlplane is starting. In another terminal:
  curl -s localhost:7080/readyz
  T=$(cat var/controlplane/admin.token)
  curl -s -X PUT -H "Authorization: Bearer $T" --data-binary @samples/layers/00-global.json \
       localhost:7080/v1/layers/global
  curl -s -H "Authorization: Bearer $T" localhost:7080/v1/status
More: docs/knowledge-base/controlplane.md

HINT
exec build/release/src/controlplane/controlplane "$@"
