#!/usr/bin/env python3
"""Self-check for Sluice's built-in name lists (python3, standard library only).

Usage:
  check-list.py [FILE ...]     check the given lists (default: never-intercept.list beside this script)
  check-list.py --self-test    check that the checker itself catches the problems it should

Every problem is printed as "FILE:LINE: reason" and the exit status is 1 if there was any.
On success a per-section entry count is printed and the exit status is 0.

What is checked (the structure is described in README.md beside this script):
  * entry syntax shared with the policy library: `name` (exactly that host), `.name` (the name and
    its subdomains), `*.name` (subdomains only); '*' nowhere else; no spaces inside an entry;
  * host-name rules as the data plane applies them to an SNI (dataplane/core/sni_name.cc): labels of
    [a-z0-9_-], 1..63 bytes, not starting or ending with '-', whole name <= 253 bytes; plus, for a
    curated list: lower case only, no trailing dot, at least two labels (no bare TLDs), no IP
    literals, ASCII only (internationalised names in punycode);
  * no duplicates: the same name twice, in any scope combination, or an entry already covered by a
    broader entry elsewhere in the file (`a.example.com` under `.example.com` or `*.example.com`);
  * provenance: entries only inside a section ('## title'); a section gives '# source: https://...'
    and '# read: YYYY-MM-DD' before its first entry; every block of entries (lines between blank
    lines) has a '# row: ...' comment before its first entry naming the vendor's row or section.
"""

import os
import re
import sys
import tempfile

LABEL_RE = re.compile(r"^[a-z0-9_-]{1,63}$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MAX_NAME = 253

EXACT, SUBS = 1, 2
SCOPE_TEXT = {EXACT: "exact", SUBS: "subdomains-only", EXACT | SUBS: "name-and-subdomains"}


def entry_text(name, scope):
    return {EXACT: name, SUBS: "*." + name, EXACT | SUBS: "." + name}[scope]


def parse_entry(text):
    """Returns (name, scope, None) or (None, None, reason)."""
    if any(c.isspace() for c in text):
        return None, None, f"'{text}': one entry per line, no spaces inside an entry"
    name, scope = text, EXACT
    if text.startswith("*."):
        name, scope = text[2:], SUBS
    elif text.startswith("."):
        name, scope = text[1:], EXACT | SUBS
    if "*" in name:
        return None, None, f"'{text}': '*' is allowed only as a leading '*.'"
    if any(ord(c) > 127 for c in name):
        return None, None, f"'{text}': not ASCII (write internationalised names in punycode, xn--...)"
    if name.endswith("."):
        return None, None, f"'{text}': drop the trailing dot"
    if name != name.lower():
        return None, None, f"'{text}': write host names in lower case"
    if not name or len(name) > MAX_NAME:
        return None, None, f"'{text}': a host name is 1..{MAX_NAME} bytes"
    labels = name.split(".")
    for label in labels:
        if not LABEL_RE.match(label) or label.startswith("-") or label.endswith("-"):
            return None, None, (f"'{text}' is not a host name (label '{label}': 1..63 of a-z 0-9 _ -,"
                                " not starting or ending with '-')")
    if len(labels) < 2:
        return None, None, f"'{text}': a single label would cover a whole top-level domain"
    if all(label.isdigit() for label in labels):
        return None, None, f"'{text}': IP addresses do not belong in a name list (hosts only)"
    return name, scope, None


def ancestors(name):
    """Proper parent domains of name, nearest first: a.b.c -> b.c, c."""
    parts = name.split(".")
    return [".".join(parts[i:]) for i in range(1, len(parts))]


def check_text(path, text):
    """Returns (problems, counts): problems as 'path:line: reason', counts as [(section, n)]."""
    problems = []
    counts = []

    def problem(line, reason):
        problems.append(f"{path}:{line}: {reason}")

    section = None          # dict with title, line, source, read, entries
    block_has_row = False   # a '# row:' comment seen in the current block before its first entry
    entries = []            # (name, scope, line, text)

    def close_section():
        if section is not None:
            counts.append((section["title"], section["entries"]))
            if section["entries"] == 0:
                problem(section["line"], f"section '{section['title']}' has no entries")

    lines = text.split("\n")
    if text.endswith("\n"):
        lines.pop()
    else:
        problem(len(lines), "file does not end with a newline")
    for number, raw in enumerate(lines, 1):
        if "\r" in raw:
            problem(number, "CR in line (use Unix line ends)")
            raw = raw.replace("\r", "")
        if raw != raw.rstrip():
            problem(number, "trailing whitespace")
        stripped = raw.strip()
        if not stripped:
            block_has_row = False
            continue
        if stripped.startswith("#"):
            if raw.startswith("## "):
                close_section()
                section = {"title": raw[3:].strip(), "line": number, "source": None, "read": None,
                           "entries": 0}
                block_has_row = False
                if not section["title"]:
                    problem(number, "section header without a title")
                continue
            comment = stripped[1:].strip()
            low = comment.lower()
            if low.startswith("source:"):
                url = comment[len("source:"):].strip().split()[0] if comment[7:].strip() else ""
                if not url.startswith("https://"):
                    problem(number, "'# source:' must give an https:// URL")
                if section is not None and section["source"] is None:
                    section["source"] = url
            elif low.startswith("read:"):
                date = comment[len("read:"):].strip().split()[0] if comment[5:].strip() else ""
                if not DATE_RE.match(date):
                    problem(number, "'# read:' must give the date the source was read, YYYY-MM-DD")
                if section is not None and section["read"] is None:
                    section["read"] = date
            elif low.startswith("row:"):
                if not comment[4:].strip():
                    problem(number, "'# row:' names the vendor's row or section; it is empty here")
                block_has_row = True
            continue
        # An entry line (the policy library also allows a trailing '# comment').
        body = stripped.split("#", 1)[0].strip()
        name, scope, reason = parse_entry(body)
        if reason:
            problem(number, reason)
        if section is None:
            problem(number, f"'{body}' is outside any section ('## title' with source and date)")
        else:
            if section["source"] is None:
                problem(number, f"'{body}': section '{section['title']}' has no '# source:' line "
                                "before its first entry")
                section["source"] = "(missing)"
            if section["read"] is None:
                problem(number, f"'{body}': section '{section['title']}' has no '# read:' date "
                                "before its first entry")
                section["read"] = "(missing)"
            if not block_has_row:
                problem(number, f"'{body}' is not preceded by a '# row:' comment in its block "
                                "(name the vendor's row or section)")
                block_has_row = True  # report once per block
            section["entries"] += 1
        if name is not None:
            entries.append((name, scope, number, body))
    close_section()

    # Duplicates and entries made redundant by a broader one.
    by_name = {}
    for name, scope, number, body in entries:
        by_name.setdefault(name, []).append((scope, number, body))
    for name, scope, number, body in entries:
        for other_scope, other_number, other_body in by_name[name]:
            if other_number == number:
                continue
            if other_number < number:
                if other_scope == scope:
                    problem(number, f"'{body}' duplicates line {other_number}")
                else:
                    problem(number, f"'{body}' and '{other_body}' (line {other_number}) name the "
                                    f"same host; write one entry ('.{name}' for both)")
                break
        for parent in ancestors(name):
            for other_scope, other_number, other_body in by_name.get(parent, []):
                if other_scope & SUBS:
                    problem(number, f"'{body}' is already covered by '{other_body}' (line "
                                    f"{other_number}); keep it as a comment instead")
                    break
            else:
                continue
            break
    return problems, counts


def check_file(path):
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        return [f"{path}:0: cannot read: {e}"], []
    return check_text(path, text)


SELF_TEST_GOOD = """\
# header
## Vendor A
# source: https://example.com/doc
# read: 2026-01-01
# row: table 1
a.example.com
.example.org
*.example.net

# row: table 2
b.example.net.fake
"""

# (text, substring expected in some problem)
SELF_TEST_BAD = [
    ("a.example.com\n", "outside any section"),
    ("## S\n# read: 2026-01-01\n# row: r\na.example.com\n", "no '# source:'"),
    ("## S\n# source: https://x.example\n# row: r\na.example.com\n", "no '# read:'"),
    ("## S\n# source: http://x.example\n# read: 2026-01-01\n# row: r\na.example.com\n", "https://"),
    ("## S\n# source: https://x.example\n# read: 1 Jan\n# row: r\na.example.com\n", "YYYY-MM-DD"),
    ("## S\n# source: https://x.example\n# read: 2026-01-01\na.example.com\n", "'# row:'"),
    ("## S\n# source: https://x.example\n# read: 2026-01-01\n# row: r\na.example.com\n\nb.example.com\n",
     "'# row:'"),
    ("## S\n# source: https://x.example\n# read: 2026-01-01\n# row: r\nA.example.com\n", "lower case"),
    ("## S\n# source: https://x.example\n# read: 2026-01-01\n# row: r\na.example.com.\n", "trailing dot"),
    ("## S\n# source: https://x.example\n# read: 2026-01-01\n# row: r\na*.example.com\n", "'*'"),
    ("## S\n# source: https://x.example\n# read: 2026-01-01\n# row: r\n-a.example.com\n", "not a host name"),
    ("## S\n# source: https://x.example\n# read: 2026-01-01\n# row: r\na..example.com\n", "not a host name"),
    ("## S\n# source: https://x.example\n# read: 2026-01-01\n# row: r\n" + "a" * 64 + ".com\n",
     "not a host name"),
    ("## S\n# source: https://x.example\n# read: 2026-01-01\n# row: r\n.com\n", "top-level"),
    ("## S\n# source: https://x.example\n# read: 2026-01-01\n# row: r\n192.0.2.1\n", "IP addresses"),
    ("## S\n# source: https://x.example\n# read: 2026-01-01\n# row: r\n10.0.0.0/8\n", "not a host name"),
    ("## S\n# source: https://x.example\n# read: 2026-01-01\n# row: r\nbücher.example\n", "punycode"),
    ("## S\n# source: https://x.example\n# read: 2026-01-01\n# row: r\na.example.com\na.example.com\n",
     "duplicates line"),
    ("## S\n# source: https://x.example\n# read: 2026-01-01\n# row: r\na.example.com\n*.a.example.com\n",
     "same host"),
    ("## S\n# source: https://x.example\n# read: 2026-01-01\n# row: r\n*.example.com\nb.a.example.com\n",
     "already covered"),
    ("## S\n# source: https://x.example\n# read: 2026-01-01\n# row: r\nx.example.com\n## T\n", "no entries"),
    ("## S\n# source: https://x.example\n# read: 2026-01-01\n# row: r\na.example.com", "newline"),
    ("## S\n# source: https://x.example\n# read: 2026-01-01\n# row: r\na.example.com \n", "whitespace"),
]


def self_test():
    failures = 0
    problems, counts = check_text("good", SELF_TEST_GOOD)
    if problems or counts != [("Vendor A", 4)]:
        print("self-test: the good sample was refused:", problems, counts)
        failures += 1
    for i, (text, expected) in enumerate(SELF_TEST_BAD):
        problems, _ = check_text(f"bad{i}", text)
        if not any(expected in p for p in problems):
            print(f"self-test: bad sample {i} did not report '{expected}': {problems}")
            failures += 1
    # The default file must also pass, and a file that cannot be read must fail.
    with tempfile.TemporaryDirectory() as d:
        missing = os.path.join(d, "missing.list")
        problems, _ = check_file(missing)
        if not problems:
            print("self-test: a missing file was accepted")
            failures += 1
    total = 1 + len(SELF_TEST_BAD) + 1
    print(f"self-test: {total - failures} passed, {failures} failed")
    return 1 if failures else 0


def main(argv):
    if argv[1:] == ["--self-test"]:
        return self_test()
    paths = argv[1:] or [os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                      "never-intercept.list")]
    status = 0
    for path in paths:
        problems, counts = check_file(path)
        for p in problems:
            print(p, file=sys.stderr)
        if problems:
            status = 1
            print(f"{path}: {len(problems)} problem(s)", file=sys.stderr)
        else:
            total = sum(n for _, n in counts)
            print(f"{path}: OK, {total} entries in {len(counts)} sections")
            for title, n in counts:
                print(f"  {n:4d}  {title}")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv))
