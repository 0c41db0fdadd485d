#!/usr/bin/env bash
# Quick lock-annotation check without a clang build: runs clang's
# -fsyntax-only -Wthread-safety -Werror over the given .cc files (default:
# every first-party .cc in build/release's compile database), with the
# release build's include paths and definitions. The asan preset (clang,
# -Werror) checks the same in CI; this is the fast local loop.
#   scripts/tsa-check.sh [file.cc ...]
set -euo pipefail
cd "$(dirname "$0")/.."
db=build/release/compile_commands.json
[[ -f $db ]] || { echo "tsa-check: build the release preset first" >&2; exit 2; }
python3 - "$db" "$@" <<'PY'
import json, os, shlex, subprocess, sys
db = json.load(open(sys.argv[1]))
want = {os.path.abspath(f) for f in sys.argv[2:]}
root = os.getcwd()
jobs, failed = [], 0
for e in db:
    f = os.path.abspath(os.path.join(e["directory"], e["file"]))
    if want and f not in want: continue
    if not want and (not f.startswith(root + "/src/") and not f.startswith(root + "/samples/")
                     and not f.startswith(root + "/tests/") and not f.startswith(root + "/bench/")):
        continue
    args = shlex.split(e["command"])
    # drop the launcher and compiler, output and gcc-only flags
    while args and not args[0].endswith(("g++", "c++", "clang++")): args.pop(0)
    out = ["clang++", "-fsyntax-only", "-Wthread-safety", "-Werror=thread-safety"]
    skip = False
    for a in args[1:]:
        if skip: skip = False; continue
        if a in ("-o", "-MF", "-MT", "-MQ"): skip = True; continue
        if a in ("-c", "-MD", "-Werror") or a.startswith("-Wshadow=") or a.startswith("-fsanitize"): continue
        if a.startswith("-W") and a not in ("-Wall",): continue
        out.append(a)
    jobs.append((f, out, e["directory"]))
for f, cmd, d in jobs:
    r = subprocess.run(cmd, cwd=d, capture_output=True, text=True)
    if r.returncode != 0:
        failed += 1
        sys.stderr.write(r.stderr)
print(f"tsa-check: {len(jobs)} file(s), {failed} with lock-annotation errors")
sys.exit(1 if failed else 0)
PY
