#!/usr/bin/env bash
# Runs the real omnirctl binary over samples/: every valid sample and layer set
# exits 0, every broken sample exits 3 with the code its file is named after,
# and the usage / I/O exit codes are the documented ones.
set -uo pipefail
# Offline validation: no server or context may leak in from the caller.
unset OMNIRCTL_SERVER OMNIRCTL_TOKEN
export OMNIRCTL_CONFIG=/dev/null
omnirctl=$1
samples=$2
pass=0
fail=0

check() {  # check NAME EXPECTED_EXIT ACTUAL_EXIT [detail]
  if [[ $2 == "$3" ]]; then
    pass=$((pass + 1))
  else
    fail=$((fail + 1))
    echo "FAIL: $1: expected exit $2, got $3 ${4:-}"
  fi
}

L=$samples/layers
"$omnirctl" config validate -f "$L/00-global.json" >/dev/null
check "global layer is valid" 0 $?
"$omnirctl" config validate -f "$L/00-global.json" -f "$L/10-region-eu-west.json" \
  -f "$L/20-cell-euw1-a.json" -f "$L/30-cluster-euw1-a-prod.json" >/dev/null
check "four layers merged are valid" 0 $?
"$omnirctl" config validate -f "$samples/snapshot-euw1-a.json" >/dev/null
check "snapshot is valid" 0 $?
"$omnirctl" config validate -f "$L/00-global.json" -f "$samples/artefacts/region-us-east.json" >/dev/null
check "a node layer with rotated artefacts is valid" 0 $?
"$omnirctl" config validate -f - <"$L/00-global.json" >/dev/null
check "stdin is read with -f -" 0 $?

out=$("$omnirctl" config validate -f "$L/10-region-eu-west.json" -f "$L/00-global.json" -o json)
rc=$?
check "layers out of order are invalid" 3 $rc
code=$(python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["errors"][0]["code"], d["errors"][0]["path"])' <<<"$out")
check "out-of-order code" "invalid_scope /metadata/scope" "$code"

# Each broken sample: exit 3, JSON output valid:false, first error's code = file name.
for f in "$samples"/broken/*.json; do
  name=$(basename "$f" .json)
  want=${name%%-*}
  out=$("$omnirctl" config validate -f "$f" -o json)
  rc=$?
  check "$name exit" 3 $rc
  got=$(python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["valid"] is False; print(d["errors"][0]["code"] if d["errors"] and d["errors"][0]["path"] is not None else "")' <<<"$out")
  check "$name code" "$want" "$got" "$out"
  text=$("$omnirctl" config validate -f "$f")
  [[ $text == "$f: /"*": $want: "* ]]
  check "$name text line" 0 $? "$text"
done

"$omnirctl" config validate -f /nonexistent/file.json 2>/dev/null
check "missing file is an I/O error" 1 $?
err=$("$omnirctl" config validate -f /nonexistent/file.json -o json 2>&1 >/dev/null)
python3 -c 'import json,sys; assert json.load(sys.stdin)["error"]["code"] == "io_error"' <<<"$err"
check "I/O error as JSON with -o json" 0 $?
"$omnirctl" config validate 2>/dev/null
check "missing -f is a usage error" 2 $?
"$omnirctl" config validate -f "$L/00-global.json" -o yaml 2>/dev/null
check "unknown output format is a usage error" 2 $?
"$omnirctl" config frobnicate 2>/dev/null
check "unknown subcommand is a usage error" 2 $?
"$omnirctl" --help >/dev/null
check "--help exits 0" 0 $?

echo "$pass passed, $fail failed"
[[ $fail == 0 ]]
