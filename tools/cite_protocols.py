"""Rewrite "SPEC §x" citations to "docs/PROTOCOLS.md §x" and report every citation it cannot map.

The repository once cited an external specification as "SPEC §x"; its content now lives in
``docs/PROTOCOLS.md`` under the same section numbers. A citation is mapped when every section it names
(``§2``, ``§1.2–1.5``, ``§2-3``, ``(§3, Appendix)``) is a heading of ``docs/PROTOCOLS.md``; anything else
that mentions the bare word is first looked up in :data:`PHRASES` (hand-written replacements of the bare
mentions the repository had when the reference was written); anything left (``SPEC.md``, a new phrase) is
reported with its file and line for a hand edit.

Usage::

    python tools/cite_protocols.py            # dry run: list rewrites and unmapped mentions
    python tools/cite_protocols.py --write    # apply the rewrites in place
    python tools/cite_protocols.py --root DIR path/to/file ...

Exit status: 0 when no unmapped mention remains (after ``--write``, or would remain), 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

PROTOCOLS = "docs/PROTOCOLS.md"
OLD = "SPEC"
NEW = PROTOCOLS
EXEMPT = frozenset({"tools/cite_protocols.py", "tests/test_docs.py"})
"""Files that name the old word on purpose (this tool and its test)."""

#: a section id: "2", "1.8", "A0.4", "B1b" (a lower-case letter names a lettered item of a section)
_SECTION = r"[0-9AB][0-9]*(?:\.[0-9]+)*[a-z]?(?![A-Za-z0-9])"
_SIGN = r"(?:§|\\u00a7)"
#: further sections on the same line: a range "-3" / "–1.5" / "–§1.5", or ", §1.6" / " and §1.7"
_MORE = (r"(?:[ \t]*[-–][ \t]*" + _SIGN + r"?" + _SECTION
         + r"|[ \t]*(?:,|and)[ \t]*" + _SIGN + _SECTION + r")*")
#: the bare word (not part of an identifier such as _LATEX_SPECIAL)
WORD = re.compile(r"(?<![A-Za-z0-9_])" + OLD + r"(?![A-Za-z0-9_])")
#: a citation: the word, a space or "(", the section sign, then sections joined by - – , or "and"
CITATION = re.compile(
    r"(?<![A-Za-z0-9_])" + OLD + r"(?P<sep>\s+|\s*\()" + r"(?P<sign>" + _SIGN + r")"
    + r"(?P<list>" + _SECTION + _MORE + r")")
#: a cited section in any text: "PROTOCOLS.md §x" (with ranges)
PROTOCOL_CITATION = re.compile(
    r"PROTOCOLS\.md\s*\(?(?P<sign>" + _SIGN + r")(?P<list>" + _SECTION + _MORE + r")")
_HEADING = re.compile(r"^#{1,6}\s+§(" + _SECTION + r")\b", re.MULTILINE)
#: Known bare mentions (as of the merge of issue 10) and their hand-written replacements, applied first.
#: A phrase that has since been edited away is simply not found; whatever is left is reported.
PHRASES: tuple[tuple[str, str], ...] = (
    ("the SPEC grid with fitting seeds", "the λ_c grid of docs/PROTOCOLS.md §B1 with fitting seeds"),
    ("the SPEC grid (Naive, Recalibrated)", "the λ_c grid (Naive, Recalibrated)"),
    ("## Deviations from the paper and the SPEC", "## Deviations from the paper and docs/PROTOCOLS.md"),
    ("every ordering the SPEC leaves open", "every ordering docs/PROTOCOLS.md leaves open"),
    ("The SPEC says each phase", "The paper says each phase"),
    ("(the SPEC fixes the grid and the seed count", "(the paper fixes the grid and the seed count"),
    ("values are the SPEC's (§1.3:", "values are those of docs/PROTOCOLS.md (§1.3:"),
    ("test means are the SPEC's\n(§2:", "test means are those of docs/PROTOCOLS.md\n(§2:"),
    ("The SPEC states no appendix", "docs/PROTOCOLS.md states no appendix"),
    ("SPEC names the metrics but states", "docs/PROTOCOLS.md names the metrics but states"),
    ("**Comparison with the paper / SPEC.** The SPEC defines",
     "**Comparison with the paper.** docs/PROTOCOLS.md defines"),
    ("The SPEC gives no other published", "docs/PROTOCOLS.md gives no other published"),
    ("(SPEC: ``", "(docs/PROTOCOLS.md §2: ``"),
    ("(SPEC: 10,000", "(docs/PROTOCOLS.md §2: 10,000"),
    ("(the SPEC headline)", "(the paper's headline, docs/PROTOCOLS.md §3.1)"),
    ("# SPEC headline", "# Exp 01 headline (docs/PROTOCOLS.md §3.1)"),
    ("(SPEC: α ∈", "(docs/PROTOCOLS.md §A1: α ∈"),
)
SKIP_SUFFIXES = (".png", ".pdf", ".npz", ".npy", ".jpg", ".gif", ".ico", ".zip", ".gz", ".sqlite")


def protocol_sections(text: str) -> set[str]:
    """Section ids (``"1.2"``, ``"A7.1"``, ``"B0"``) defined by ``§`` headings of a PROTOCOLS.md text."""
    return set(_HEADING.findall(text))


def cited_sections(section_list: str) -> list[str]:
    """Section ids in a citation list: ``"1.2–1.5"`` → ``["1.2", "1.5"]``, ``"2-3"`` → ``["2", "3"]``.

    A range's end that omits the letter inherits it from its start (``"A7.1–7.3"`` → ``A7.1, A7.3``).
    """
    ids = re.findall(_SECTION, section_list)
    out: list[str] = []
    for sid in ids:
        if out and sid[0].isdigit() and out[0][0] in "AB":
            sid = out[0][0] + sid
        out.append(sid)
    return out


def rewrite_text(text: str, sections: set[str]) -> tuple[str, int, list[tuple[int, str]]]:
    """``(new_text, n_rewritten, unmapped)``; ``unmapped`` lists ``(line number, line)`` of left mentions."""
    count = 0
    for old, new in PHRASES:
        count += text.count(old)
        text = text.replace(old, new)

    def repl(m: re.Match) -> str:
        nonlocal count
        if all(s in sections for s in cited_sections(m.group("list"))):
            count += 1
            return NEW + m.group(0)[len(OLD):]
        return m.group(0)

    new = CITATION.sub(repl, text)
    unmapped = [(i, line.strip()) for i, line in enumerate(new.splitlines(), start=1) if WORD.search(line)]
    return new, count, unmapped


def dangling_citations(text: str, sections: set[str]) -> list[tuple[int, str]]:
    """``(line number, section)`` of every "PROTOCOLS.md §x" citation naming a section that does not exist."""
    bad = []
    for i, line in enumerate(text.splitlines(), start=1):
        for m in PROTOCOL_CITATION.finditer(line):
            bad += [(i, s) for s in cited_sections(m.group("list")) if s not in sections]
    return bad


def tracked_files(root: Path) -> list[str]:
    """Repo-relative paths of the tracked files (``git ls-files``; a directory walk outside git)."""
    try:
        out = subprocess.run(["git", "-C", str(root), "ls-files", "-z"], check=True, capture_output=True)
        return [p for p in out.stdout.decode("utf-8").split("\0") if p]
    except (OSError, subprocess.CalledProcessError):
        files = []
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if d not in {".git", ".venv", "data", "__pycache__"}
                           and not d.startswith("_")]
            files += [os.path.relpath(os.path.join(dirpath, f), root) for f in filenames]
        return sorted(files)


def read_text(path: Path) -> str | None:
    """The file's UTF-8 text, or None for binary / undecodable files."""
    if path.suffix.lower() in SKIP_SUFFIXES or not path.is_file():
        return None
    try:
        return path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return None


def text_files(root: Path, paths: Iterable[str] | None = None) -> Iterable[tuple[str, str]]:
    """``(relative path, text)`` of every non-exempt text file (``paths`` or the tracked files)."""
    for rel in (list(paths) if paths else tracked_files(root)):
        rel = Path(rel).as_posix()
        if rel in EXEMPT:
            continue
        text = read_text(root / rel)
        if text is not None:
            yield rel, text


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="*", help="files to process (default: every tracked file)")
    ap.add_argument("--root", default=Path(__file__).resolve().parents[1], type=Path, help="repository root")
    ap.add_argument("--write", action="store_true", help="apply the rewrites (default: dry run)")
    args = ap.parse_args(argv)
    root = args.root.resolve()
    sections = protocol_sections((root / PROTOCOLS).read_text(encoding="utf-8"))
    total = left = 0
    for rel, text in text_files(root, args.paths):
        new, n, unmapped = rewrite_text(text, sections)
        if n:
            total += n
            print(f"{rel}: {n} citation(s) {'rewritten' if args.write else 'to rewrite'}")
            if args.write:
                (root / rel).write_text(new, encoding="utf-8")
        for line_no, line in unmapped:
            left += 1
            print(f"{rel}:{line_no}: UNMAPPED: {line[:160]}")
    print(f"{total} citation(s) {'rewritten' if args.write else 'mappable'}; {left} unmapped mention(s)")
    return 1 if left else 0


if __name__ == "__main__":
    sys.exit(main())
