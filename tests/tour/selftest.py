#!/usr/bin/env python3
"""The tour runner's own rules: which blocks run, what a command expects,
what is normalised, how `...` matches. No binaries needed."""

import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run_tour  # noqa: E402


def parse(text):
    with tempfile.NamedTemporaryFile("w", suffix=".md", delete=False) as f:
        f.write(text)
    try:
        return run_tour.parse_page(f.name)
    finally:
        os.unlink(f.name)


class ParseTest(unittest.TestCase):
    def test_dollar_lines_are_commands_and_following_lines_their_output(self):
        # Validates: `$ ` starts a command; lines up to the next `$ ` are its output.
        commands, _ = parse("x\n```sh\n$ echo a\na\n$ true\n```\n")
        self.assertEqual([(c.line, c.text, c.expected) for c in commands],
                         [(3, "echo a", ["a"]), (5, "true", [])])

    def test_backslash_continues_a_command(self):
        # Validates: a command ending in `\` takes the next line as its continuation.
        commands, _ = parse("```\n$ echo a \\\n    b\na b\n```\n")
        self.assertEqual(commands[0].text, "echo a \\\n    b")
        self.assertEqual(commands[0].expected, ["a b"])

    def test_exit_comment_sets_expected_status(self):
        # Validates: `# exit N` after a command is the exit status it must have.
        commands, _ = parse("```\n$ false  # exit 1\n```\n")
        self.assertEqual(commands[0].exit_code, 1)

    def test_blocks_without_dollar_lines_do_not_run(self):
        # Validates: a JSON or synopsis block is prose, not a tour.
        commands, _ = parse("```json\n{}\n```\n```\nomnirctl status\n```\n")
        self.assertEqual(commands, [])

    def test_skip_marker_skips_the_next_block(self):
        # Validates: `<!-- tour: skip: why -->` keeps the block after it from running.
        commands, skipped = parse("<!-- tour: skip: foreground daemon -->\n```sh\n$ sleep 100\n```\n")
        self.assertEqual((commands, skipped), ([], 1))

    def test_skip_marker_needs_a_reason(self):
        # Validates: skips are explained.
        with self.assertRaises(run_tour.PageError):
            parse("<!-- tour: skip -->\n```sh\n$ true\n```\n")

    def test_unmarked_shell_block_without_commands_is_an_error(self):
        # Validates: a ```sh block is either a tour or skipped on purpose.
        with self.assertRaises(run_tour.PageError):
            parse("```sh\nmake\n```\n")

    def test_setup_marker_runs_silently(self):
        # Validates: `<!-- tour: setup ... -->` holds commands whose output is not compared.
        commands, _ = parse("<!-- tour: setup (wait)\n$ tour_until true\n-->\n```\n$ echo\n```\n")
        self.assertEqual([(c.text, c.silent) for c in commands],
                         [("tour_until true", True), ("echo", False)])

    def test_background_commands_are_not_compared(self):
        # Validates: a command ending in `&` starts a job; its output is not compared.
        commands, _ = parse("```\n$ sleep 1 &\n$ a && b\n```\n")
        self.assertEqual([c.background for c in commands], [True, False])


class PagesTest(unittest.TestCase):
    def test_every_toured_page_parses(self):
        # Validates: README.md and every knowledge-base page are well-formed tours
        # (every shell block run or skipped with a reason), so tour_docs visits them all.
        root = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
        kb = os.path.join(root, "docs", "knowledge-base")
        pages = [os.path.join(root, "README.md")] + sorted(
            os.path.join(kb, n) for n in os.listdir(kb) if n.endswith(".md"))
        self.assertGreaterEqual(len(pages), 9)
        for page in pages:
            with self.subTest(page=os.path.relpath(page, root)):
                run_tour.parse_page(page)  # raises PageError when malformed


class NormaliseTest(unittest.TestCase):
    def norm(self, line, ports=None):
        return run_tour.normalise(line, "/tmp/omni-tour-x", ports or {})

    def test_volatile_values_become_placeholders(self):
        # Validates: times, hashes, key ids, secrets, token ids, relative times, pids.
        self.assertEqual(self.norm('"2026-11-27T10:42:22Z" sha256:' + "a" * 64),
                         '"<time>" sha256:<hash>')
        self.assertEqual(self.norm("ed25519:" + "0f" * 16), "ed25519:<keyid>")
        self.assertEqual(self.norm("secret: omr_0a7866f0cfd1_6659d0aa"), "secret: <secret>")
        self.assertEqual(self.norm("id: 0a7866f0cfd1"), "id: <id>")
        self.assertEqual(self.norm("12s ago  just now  in 29d"), "<ago>  <ago>  in <duration>")
        self.assertEqual(self.norm("(pid 4242, lock"), "(pid <pid>, lock")
        self.assertEqual(self.norm('{"timeMs":1764240142000}'), '{"timeMs":<n>}')

    def test_real_ports_map_back_to_the_documented_ones(self):
        # Validates: output naming a free port the tour chose reads as the doc's port.
        self.assertEqual(self.norm("127.0.0.1:40123 and 140123", {40123: 7443}),
                         "127.0.0.1:7443 and 140123")

    def test_temp_paths_are_relative_to_the_repository_root(self):
        # Validates: the tour's temp dir stands for the repository root.
        self.assertEqual(self.norm("/tmp/omni-tour-x/work/var/controlplane"), "var/controlplane")

    def test_column_gaps_collapse(self):
        # Validates: table columns may widen with their values.
        self.assertEqual(self.norm("ID      NAME   "), "ID  NAME")


class MatchTest(unittest.TestCase):
    def test_exact(self):
        self.assertTrue(run_tour.matches(["a", "b"], ["a", "b"]))
        self.assertFalse(run_tour.matches(["a"], ["a", "b"]))

    def test_ellipsis_inside_a_line(self):
        # Validates: `...` or `…` in a line stands for any text.
        self.assertTrue(run_tour.matches(['{"a":1,...}'], ['{"a":1,"b":2}']))
        self.assertTrue(run_tour.matches(["sha256:…"], ["sha256:<hash>"]))
        self.assertFalse(run_tour.matches(['{"a":2,...}'], ['{"a":1,"b":2}']))

    def test_ellipsis_line_matches_any_number_of_lines(self):
        # Validates: a line that is just `...` stands for zero or more lines.
        self.assertTrue(run_tour.matches(["a", "...", "z"], ["a", "z"]))
        self.assertTrue(run_tour.matches(["a", "...", "z"], ["a", "b", "c", "z"]))
        self.assertFalse(run_tour.matches(["a", "...", "z"], ["a", "b"]))

    def test_regex_characters_are_literal(self):
        self.assertTrue(run_tour.matches(["(+a) [x]*"], ["(+a) [x]*"]))
        self.assertFalse(run_tour.matches(["a.c"], ["abc"]))


if __name__ == "__main__":
    unittest.main(verbosity=1)
