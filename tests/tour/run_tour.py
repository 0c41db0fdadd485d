#!/usr/bin/env python3
"""Runs the documentation's command examples against real binaries.

Each Markdown page is a tour: its runnable blocks run in order, in one bash
session per page, against a fresh control plane (and whatever relay nodes the
page itself starts). Every command's output is compared with the output the
page shows, after volatile values (times, ids, secrets, hashes, ports,
pids, ...) are normalised to placeholders on both sides. The Markdown
convention is described in tests/tour/README.md.

Usage:
  run_tour.py --root REPO --controlplane BIN --omnirctl BIN --relay-node BIN \
              [--page FILE ...] [PATH ...]
PATHs are Markdown files or directories (every *.md in them, not recursive);
--page FILE runs just that page. Exit status 0 when every page matches.
Standard library only.
"""

import argparse
import contextlib
import ctypes
import difflib
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

# The ports the docs use (the daemon's and relay-node's defaults, and two
# more relays), replaced by free loopback ports in commands and mapped back in
# output, so a page stays literally true while the tour never needs them free.
DOC_PORTS = {"http": 7080, "grpc": 7443, "relay1": 9080, "relay2": 9081, "relay3": 9082}
COMMAND_TIMEOUT_S = 30
DAEMON_START_TIMEOUT_S = 30
SENTINEL = "__TOUR_DONE__"

# ---------------------------------------------------------------------------
# Markdown: pages, blocks, commands


class Command:
    def __init__(self, line, text, expected, exit_code, silent):
        self.line = line            # 1-based line of the `$ ` line in the page
        self.text = text            # the shell command (continuations joined)
        self.expected = expected    # expected output lines (un-normalised)
        self.exit_code = exit_code  # expected exit status
        self.silent = silent        # a setup command: output not compared
        self.background = text.rstrip().endswith("&") and not text.rstrip().endswith("&&")


class PageError(Exception):
    pass


SHELL_LANGUAGES = ("sh", "shell", "bash", "console")
FENCE = re.compile(r"^(\s*)(```+|~~~+)(.*)$")
MARKER = re.compile(r"^\s*<!--\s*tour:\s*(\w[\w-]*)(.*?)(-->)?\s*$")
EXIT_COMMENT = re.compile(r"\s+#\s*exit\s+(\d+)\s*$")


def _commands_from(lines, first_line, silent, where):
    """Commands of a block: `$ ` lines, continuation lines, then output lines."""
    commands = []
    i = 0
    while i < len(lines):
        raw = lines[i]
        if not raw.startswith("$ "):
            if commands:
                commands[-1].expected.append(raw)
            elif raw.strip():
                raise PageError(f"{where}:{first_line + i}: output before the first `$ ` command")
            i += 1
            continue
        line_no = first_line + i
        parts = [raw[2:]]
        while parts[-1].endswith("\\") and i + 1 < len(lines):
            i += 1
            parts.append(lines[i])
        text = "\n".join(parts)
        exit_code = 0
        m = EXIT_COMMENT.search(text)
        if m:
            exit_code = int(m.group(1))
        commands.append(Command(line_no, text, [], exit_code, silent))
        i += 1
    for c in commands:
        while c.expected and not c.expected[-1].strip():
            c.expected.pop()
    return commands


def parse_page(path):
    """Returns (commands, skipped_blocks) of a page, in page order."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    commands, skipped = [], 0
    pending = None  # (marker, argument, line) of the last marker seen
    i = 0
    while i < len(lines):
        line = lines[i]
        m = MARKER.match(line)
        if m:
            kind, arg = m.group(1), m.group(2).strip()
            if kind == "setup":
                # <!-- tour: setup  ... $ lines ... -->: commands run, output unchecked.
                body, j = [], i + 1
                if m.group(3):
                    raise PageError(f"{path}:{i + 1}: a setup marker holds `$ ` lines before `-->`")
                while j < len(lines) and lines[j].strip() != "-->":
                    body.append(lines[j])
                    j += 1
                if j == len(lines):
                    raise PageError(f"{path}:{i + 1}: setup marker without a closing `-->` line")
                commands += _commands_from(body, i + 2, True, path)
                i = j + 1
                continue
            if kind == "skip":
                if not arg.rstrip("-").strip():
                    raise PageError(f"{path}:{i + 1}: `tour: skip` needs a reason")
                pending = (kind, arg, i + 1)
            else:
                raise PageError(f"{path}:{i + 1}: unknown tour marker `{kind}`")
            i += 1
            continue
        f = FENCE.match(line)
        if f:
            indent, fence = f.group(1), f.group(2)
            j = i + 1
            while j < len(lines) and not lines[j].strip().startswith(fence):
                j += 1
            body = [b[len(indent):] if b.startswith(indent) else b for b in lines[i + 1:j]]
            runnable = any(b.startswith("$ ") for b in body)
            if pending and pending[0] == "skip":
                skipped += 1
            elif runnable:
                commands += _commands_from(body, i + 2, False, path)
            elif f.group(3).strip() in SHELL_LANGUAGES:
                # A shell block is either a tour or skipped with a reason.
                raise PageError(f"{path}:{i + 1}: a ```{f.group(3).strip()} block without `$ `"
                                " commands needs a `<!-- tour: skip: why -->` line before it")
            pending = None
            i = j + 1
            continue
        if line.strip():
            pending = None  # a marker applies to the block right after it
        i += 1
    return commands, skipped


# ---------------------------------------------------------------------------
# Normalisation and matching

RULES = [
    # RFC 3339 times, any precision and offset (log lines: local, no offset).
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)?"), "<time>"),
    # Hashes, key ids and secrets, whole or shortened on a page (`sha256:3b0c…`).
    (re.compile(r"sha256:(?:[0-9a-f]{64}|[0-9a-f]*…)"), "sha256:<hash>"),
    (re.compile(r"ed25519:(?:[0-9a-f]{32}|[0-9a-f]*…)"), "ed25519:<keyid>"),
    # The build's commit (`--version`), whatever its form.
    (re.compile(r"\(commit [^,)]+"), "(commit <commit>"),
    # Token secrets, then token ids (12 hex digits).
    (re.compile(r"omr_[0-9a-f]{12}_(?:[0-9A-Za-z_-]+…?|…)"), "<secret>"),
    (re.compile(r"(?<![0-9A-Za-z_])[0-9a-f]{12}(?![0-9A-Za-z_])"), "<id>"),
    # Base64 blobs (keys, signatures, payloads).
    (re.compile(r"[A-Za-z0-9+/]{40,}={0,2}"), "<base64>"),
    # Relative times in tables.
    (re.compile(r"\b\d+(?:ms|s|m|h|d) ago\b|\bjust now\b"), "<ago>"),
    (re.compile(r"\bin \d+(?:ms|s|m|h|d)\b"), "in <duration>"),
    # Epoch milliseconds and other clock-dependent figures in JSON.
    (re.compile(r'"(timeMs|stalenessMs|lastSeenMs|expires_at_ms|staleness_ms)":\s*\d+'),
     r'"\1":<n>'),
    (re.compile(r"\bpid \d+"), "pid <pid>"),
    (re.compile(r"\bomnirctl-\d{9,}\b"), "omnirctl-<unixtime>"),
]


def normalise(line, tmp_root, ports):
    """Volatile values to placeholders; the same on expected and actual."""
    if tmp_root:
        line = line.replace(tmp_root + "/work/", "").replace(tmp_root, "<tmp>")
    for real, doc in ports.items():
        line = re.sub(rf"(?<![0-9]){real}(?![0-9])", str(doc), line)
    for pattern, repl in RULES:
        line = pattern.sub(repl, line)
    # Column widths follow the values: runs of spaces count as one gap.
    line = re.sub(r"(?<=\S) {2,}", "  ", line.rstrip())
    return line


def _line_regex(expected):
    parts = re.split(r"(\.\.\.|…)", expected)
    return re.compile("".join(".*" if p in ("...", "…") else re.escape(p) for p in parts) + r"\Z")


def matches(expected, actual):
    """Expected lines match actual lines; `...` (or `…`) inside a line matches
    any text, a line that is just `...` any number of lines."""
    regexes = [None if e.strip() in ("...", "…") else _line_regex(e) for e in expected]
    memo = {}

    def go(i, j):
        key = (i, j)
        if key not in memo:
            if i == len(regexes):
                memo[key] = j == len(actual)
            elif regexes[i] is None:
                memo[key] = go(i + 1, j) or (j < len(actual) and go(i, j + 1))
            else:
                memo[key] = j < len(actual) and bool(regexes[i].match(actual[j])) and go(i + 1, j + 1)
        return memo[key]

    return go(0, 0)


# ---------------------------------------------------------------------------
# Processes


def _die_with_parent():
    # The daemon must not outlive the runner, even when the runner is killed.
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


# Cleans up after a runner killed outright (ctest's timeout, SIGKILL): PDEATHSIG
# reaches the daemon and the shell, not the jobs the shell started. It reads
# "pg N" / "pid N" / "dir D" lines; on EOF it kills and removes them, on "done"
# it just exits.
WATCHDOG = r"""
import os, shutil, signal, sys
groups, pids, dirs = [], [], []
for line in sys.stdin:
    kind, _, value = line.strip().partition(" ")
    if kind == "done":
        sys.exit(0)
    {"pg": groups, "pid": pids, "dir": dirs}[kind].append(value)
for g in groups:
    try: os.killpg(int(g), signal.SIGKILL)
    except OSError: pass
for p in pids:
    try: os.kill(int(p), signal.SIGKILL)
    except OSError: pass
for d in dirs:
    shutil.rmtree(d, ignore_errors=True)
"""


def free_port(taken):
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in taken:
            return port


class Tour:
    """One page's world: a temp dir laid out like the repository root, a
    control plane on free loopback ports, and one bash session."""

    def __init__(self, args, page):
        self.args = args
        self.page = page
        self.tmp = tempfile.mkdtemp(prefix="omni-tour-")
        self.work = os.path.join(self.tmp, "work")
        self.daemon = None
        self.watchdog = None
        self.shell = None
        self.ports = {}
        self.counter = 0

    def _watch(self, kind, value):
        self.watchdog.stdin.write(f"{kind} {value}\n".encode())
        self.watchdog.stdin.flush()

    def _layout(self):
        root, work = self.args.root, self.work
        os.makedirs(os.path.join(work, "var"))
        os.makedirs(os.path.join(self.tmp, "home"))
        # A copy, so `cd samples/layers; ... ../../var` resolves as in a checkout.
        shutil.copytree(os.path.join(root, "samples"), os.path.join(work, "samples"))
        binaries = {
            "controlplane": ("src/controlplane", self.args.controlplane),
            "omnirctl": ("src/cli", self.args.omnirctl),
            "relay-node": ("samples/relay-node", self.args.relay_node),
        }
        bindir = os.path.join(self.tmp, "bin")
        os.makedirs(bindir)
        for name, (subdir, binary) in binaries.items():
            d = os.path.join(work, "build", "release", subdir)
            os.makedirs(d, exist_ok=True)
            os.symlink(binary, os.path.join(d, name))
            os.symlink(binary, os.path.join(bindir, name))
        return bindir

    def start(self):
        self.watchdog = subprocess.Popen([sys.executable, "-c", WATCHDOG], stdin=subprocess.PIPE,
                                         start_new_session=True)
        self._watch("dir", self.tmp)
        bindir = self._layout()
        taken = set(DOC_PORTS.values())
        for name, doc_port in DOC_PORTS.items():
            port = free_port(taken)
            taken.add(port)
            self.ports[name] = port
        self.real_to_doc = {self.ports[n]: DOC_PORTS[n] for n in DOC_PORTS}

        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("OMNIRCTL_", "XDG_", "ASAN_", "TSAN_", "UBSAN_"))}
        env.update(HOME=os.path.join(self.tmp, "home"), PATH=bindir + os.pathsep + env.get("PATH", ""),
                   NO_COLOR="1", TERM="dumb", LC_ALL="C.UTF-8", TZ="UTC",
                   # The daemon below stands in for one on its defaults.
                   OMNIRCTL_SERVER=f"127.0.0.1:{self.ports['grpc']}")
        env.pop("CDPATH", None)

        # The control plane on its defaults (data in ./var/controlplane), as
        # scripts/run.sh starts it, but on free loopback ports.
        self.daemon_log = open(os.path.join(self.tmp, "controlplane.log"), "wb")
        self.daemon = subprocess.Popen(
            [self.args.controlplane, "--grpc-listen", f"127.0.0.1:{self.ports['grpc']}",
             "--http-listen", f"127.0.0.1:{self.ports['http']}"],
            cwd=self.work, env=env, stdin=subprocess.DEVNULL, stdout=self.daemon_log,
            stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
        self._watch("pid", self.daemon.pid)
        self._await_daemon()

        self.shell = subprocess.Popen(
            ["bash", "--noprofile", "--norc"], cwd=self.work, env=env, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=_die_with_parent)
        self._watch("pg", self.shell.pid)
        # Helper for setup blocks: retry a command until it succeeds (20 s).
        self._send("__tour_rc=0; __tour_status() { return \"$1\"; }\n"
                   "tour_until() { local i; for i in $(seq 200); do \"$@\" >/dev/null 2>&1 && return 0;"
                   " sleep 0.1; done; echo \"tour_until: gave up on: $*\"; return 1; }\n"
                   f"echo {SENTINEL} 0\n")
        self._await_sentinel(COMMAND_TIMEOUT_S)

    def _await_daemon(self):
        deadline = time.monotonic() + DAEMON_START_TIMEOUT_S
        url = f"http://127.0.0.1:{self.ports['http']}/readyz"
        token = os.path.join(self.work, "var", "controlplane", "admin.token")
        while time.monotonic() < deadline:
            if self.daemon.poll() is not None:
                raise RuntimeError(f"controlplane exited {self.daemon.returncode}:\n{self._daemon_log()}")
            with contextlib.suppress(OSError, urllib.error.URLError):
                with urllib.request.urlopen(url, timeout=2) as r:
                    if r.status == 200 and os.path.exists(token):
                        return
            time.sleep(0.05)
        raise RuntimeError(f"controlplane not ready after {DAEMON_START_TIMEOUT_S} s:\n{self._daemon_log()}")

    def _daemon_log(self):
        with open(os.path.join(self.tmp, "controlplane.log"), encoding="utf-8", errors="replace") as f:
            return f.read()[-4000:]

    def _send(self, text):
        self.shell.stdin.write(text.encode())
        self.shell.stdin.flush()

    def _await_sentinel(self, timeout):
        deadline = time.monotonic() + timeout
        buf = b""
        fd = self.shell.stdout.fileno()
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no answer within {timeout} s")
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                raise RuntimeError("the shell session ended: " + buf.decode(errors="replace"))
            buf += chunk
            m = re.search(rb"(?m)^" + SENTINEL.encode() + rb" (\d+)\n", buf)
            if m:
                return int(m.group(1)), buf[:m.start()].decode(errors="replace")

    def run(self, command):
        """Runs one command in the session; returns (exit status, output lines)."""
        self.counter += 1
        out = os.path.join(self.tmp, f"cmd-{self.counter}.out")
        text = command.text
        for name, doc_port in DOC_PORTS.items():
            text = re.sub(rf"(?<![0-9]){doc_port}(?![0-9])", str(self.ports[name]), text)
        # stdout and stderr together, as a terminal shows them; a background
        # job started here keeps writing to this command's file, not the next.
        # `$?` carries over from the previous command, as in a terminal.
        self._send(f"{{ __tour_status $__tour_rc; {text}\n}} >'{out}' 2>&1 </dev/null\n"
                   f"__tour_rc=$?; echo {SENTINEL} $__tour_rc\n")
        status, stray = self._await_sentinel(COMMAND_TIMEOUT_S)
        with open(out, encoding="utf-8", errors="replace") as f:
            output = f.read()
        if stray.strip():
            output = stray + output
        lines = output.split("\n")
        while lines and not lines[-1].strip():
            lines.pop()
        return status, lines

    def stop(self):
        if self.shell:
            with contextlib.suppress(OSError):
                self.shell.stdin.close()
            # The session and every job it started share one process group.
            for sig in (signal.SIGTERM, signal.SIGKILL):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.shell.pid, sig)
                try:
                    self.shell.wait(timeout=5)
                    if sig == signal.SIGTERM:
                        time.sleep(0.2)  # let the group's other members exit
                        with contextlib.suppress(ProcessLookupError, PermissionError):
                            os.killpg(self.shell.pid, signal.SIGKILL)
                    break
                except subprocess.TimeoutExpired:
                    continue
        if self.daemon and self.daemon.poll() is None:
            self.daemon.terminate()
            try:
                self.daemon.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.daemon.kill()
                self.daemon.wait()
        if self.daemon:
            self.daemon_log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)
        if self.watchdog:
            with contextlib.suppress(OSError):
                self._watch("done", "")
                self.watchdog.stdin.close()
            self.watchdog.wait()


# ---------------------------------------------------------------------------


def show_command(command):
    return "$ " + command.text.replace("\n", "\n  ")


def run_page(args, page):
    """Runs one page; returns (commands run, failures)."""
    rel = os.path.relpath(page, args.root)
    commands, skipped = parse_page(page)
    if not commands:
        print(f"{rel}: no commands" + (f" ({skipped} block(s) skipped)" if skipped else ""))
        return 0, 0
    tour = Tour(args, page)
    failures = 0
    checked = 0
    try:
        tour.start()
        for c in commands:
            try:
                status, actual = tour.run(c)
            except (TimeoutError, RuntimeError) as e:
                print(f"{rel}:{c.line}: {show_command(c)}\n  {e}")
                # What the daemon said last: the one clue CI keeps of a stuck page.
                with contextlib.suppress(OSError):
                    tail = tour._daemon_log().splitlines()[-25:]
                    print("  controlplane log (last lines):\n" + "\n".join("  | " + t for t in tail))
                failures += 1
                break  # the session is stuck or gone: the page ends here
            if c.silent:
                if status != 0:
                    failures += 1
                    print(f"{rel}:{c.line}: setup command failed (exit {status}):\n{show_command(c)}")
                    print("\n".join("  " + a for a in actual))
                continue
            checked += 1
            norm_actual = [normalise(a, tour.tmp, tour.real_to_doc) for a in actual]
            norm_expected = [normalise(e, None, {}) for e in c.expected]
            ok = status == c.exit_code and (c.background or matches(norm_expected, norm_actual))
            if args.verbose or not ok:
                print(f"{rel}:{c.line}: {show_command(c)}")
            if not ok:
                failures += 1
                if status != c.exit_code:
                    print(f"  exit status {status}, the page expects {c.exit_code}"
                          " (mark another with `# exit N` after the command)")
                if not c.background:
                    diff = difflib.unified_diff(norm_expected, norm_actual, "expected (page)",
                                                "actual (normalised)", lineterm="", n=3)
                    print("\n".join("  " + d for d in diff) or "  (output matches)")
            elif args.verbose:
                print("\n".join("  | " + a for a in norm_actual))
            if failures and args.fail_fast:
                break
    except Exception as e:  # a page that cannot start is a failure of that page
        print(f"{rel}: {type(e).__name__}: {e}")
        failures += 1
    finally:
        tour.stop()
    state = "ok" if not failures else f"FAILED ({failures} mismatch(es))"
    print(f"{rel}: {checked} command(s) checked" +
          (f", {skipped} block(s) skipped" if skipped else "") + f": {state}")
    return checked, failures


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", required=True, help="the repository root")
    p.add_argument("--controlplane")
    p.add_argument("--omnirctl")
    p.add_argument("--relay-node")
    p.add_argument("--list", action="store_true",
                   help="only parse the pages: print each one's commands and skipped blocks")
    p.add_argument("--page", action="append", default=[], help="run only this page (repeatable)")
    p.add_argument("-v", "--verbose", action="store_true", help="print every command and its output")
    p.add_argument("--fail-fast", action="store_true", help="stop a page at its first mismatch")
    p.add_argument("paths", nargs="*", help="Markdown files or directories of them")
    args = p.parse_args()
    args.root = os.path.abspath(args.root)
    for b in ("controlplane", "omnirctl", "relay_node") if not args.list else ():
        if not getattr(args, b):
            sys.exit(f"--{b.replace('_', '-')} is required")
        setattr(args, b, os.path.abspath(getattr(args, b)))
        if not os.access(getattr(args, b), os.X_OK):
            sys.exit(f"not an executable: {getattr(args, b)}")

    pages = []
    for path in args.page or args.paths:
        full = path if os.path.isabs(path) else os.path.join(args.root, path)
        if os.path.isdir(full):
            pages += sorted(os.path.join(full, n) for n in os.listdir(full) if n.endswith(".md"))
        elif os.path.isfile(full):
            pages.append(full)
        else:
            sys.exit(f"no such page: {path}")
    if not pages:
        sys.exit("no pages given")

    if args.list:
        bad = 0
        for page in pages:
            try:
                commands, skipped = parse_page(page)
                shown = sum(1 for c in commands if not c.silent)
                print(f"{os.path.relpath(page, args.root)}: {shown} command(s),"
                      f" {len(commands) - shown} setup, {skipped} block(s) skipped")
            except PageError as e:
                print(f"malformed tour: {e}")
                bad += 1
        return 1 if bad else 0

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally blocks
    start = time.monotonic()
    total = failed = 0
    for page in pages:
        try:
            checked, failures = run_page(args, page)
        except PageError as e:
            print(f"malformed tour: {e}")
            checked, failures = 0, 1
        total += checked
        failed += failures
    print(f"{len(pages)} page(s) visited, {total} command(s) checked, {failed} failure(s),"
          f" {time.monotonic() - start:.1f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
