"""The docs are self-contained: no file cites the old external specification, every PROTOCOLS.md citation
resolves to a heading of docs/PROTOCOLS.md, and the rewrite tool maps (and reports) citations correctly."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("cite_protocols", ROOT / "tools" / "cite_protocols.py")
cite = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cite)

OLD = cite.OLD  # the retired citation word, kept in one place (the tool)
SECTIONS = cite.protocol_sections((ROOT / cite.PROTOCOLS).read_text(encoding="utf-8"))


def _git_files() -> list[str]:
    try:
        out = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z"], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: tracked files unknown")
    return [p for p in out.stdout.decode("utf-8").split("\0") if p]


def test_protocols_numbering_is_complete():
    expected = {f"1.{i}" for i in range(1, 10)} | {"1", "2", "3"}
    expected |= {f"A{i}" for i in range(9)} | {f"A0.{i}" for i in range(1, 6)} | {"A7.1", "A7.2", "A7.3"}
    expected |= {f"B{i}" for i in range(6)} | {"B1a", "B1b", "B1c"}
    assert expected <= SECTIONS, sorted(expected - SECTIONS)


def test_no_tracked_file_cites_the_old_specification():
    offenders = [f"{rel}:{n}: {line[:120]}" for rel, text in cite.text_files(ROOT, _git_files())
                 for n, line in enumerate(text.splitlines(), start=1) if cite.WORD.search(line)]
    assert not offenders, (f"{len(offenders)} mention(s) of {OLD}; run `python tools/cite_protocols.py "
                           "--write` and edit the reported lines by hand:\n" + "\n".join(offenders[:40]))


def test_every_protocols_citation_exists():
    bad = [f"{rel}:{n}: §{sid}" for rel, text in cite.text_files(ROOT, _git_files())
           for n, sid in cite.dangling_citations(text, SECTIONS)]
    assert not bad, "citations of missing docs/PROTOCOLS.md sections:\n" + "\n".join(bad)


def test_headings_parse():
    text = "# Title\n## §1 Router\n### §1.2 Arm score\n## §A7 Latency\n### §A7.1 Micro\nnot §9 a heading\n"
    assert cite.protocol_sections(text) == {"1", "1.2", "A7", "A7.1"}


@pytest.mark.parametrize(("listing", "ids"), [
    ("1.8", ["1.8"]), ("2-3", ["2", "3"]), ("1.2–1.5", ["1.2", "1.5"]), ("A7.1–7.3", ["A7.1", "A7.3"]),
    ("1.2, §1.5", ["1.2", "1.5"]), ("B0", ["B0"]), ("B1b", ["B1b"]),
])
def test_cited_sections(listing, ids):
    assert cite.cited_sections(listing) == ids


def test_rewrite_maps_existing_sections_and_reports_the_rest():
    sections = {"1", "1.2", "1.5", "1.8", "2", "3"}
    text = (f"a ({OLD} §1.8) b\n{OLD} §2–3 trial.\n({OLD} §3, Appendix; nb 05)\n{OLD} §1.2–1.5 x\n"
            f"missing {OLD} §4.1\nthe {OLD} grid\n_LATEX_{OLD}IAL stays\nof {OLD} §2,\n0.963 next\n"
            f"{OLD} (§3, Appendix)\n")
    new, n, unmapped = cite.rewrite_text(text, sections)
    lines = new.splitlines()
    assert n == 6
    assert lines[0] == "a (docs/PROTOCOLS.md §1.8) b"
    assert lines[1] == "docs/PROTOCOLS.md §2–3 trial."
    assert lines[2] == "(docs/PROTOCOLS.md §3, Appendix; nb 05)"
    assert lines[3] == "docs/PROTOCOLS.md §1.2–1.5 x"
    assert lines[7] == "of docs/PROTOCOLS.md §2,"  # the next line's number is not a section
    assert lines[9] == "docs/PROTOCOLS.md (§3, Appendix)"
    assert [ln for ln, _ in unmapped] == [5, 6]  # §4.1 does not exist; a bare mention; _LATEX_... untouched
    assert lines[6] == f"_LATEX_{OLD}IAL stays"


def test_dangling_citations():
    text = ("see docs/PROTOCOLS.md §1.2 and docs/PROTOCOLS.md §A7.1–7.9\nalso PROTOCOLS.md (§B4)\n"
            "docs/PROTOCOLS.md §B1b and docs/PROTOCOLS.md §B1d\n")
    assert cite.dangling_citations(text, {"1.2", "A7.1", "B4", "B1b"}) == [(1, "A7.9"), (3, "B1d")]


def test_tool_writes_and_exits(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "PROTOCOLS.md").write_text("## §2 Data\n", encoding="utf-8")
    (tmp_path / "a.md").write_text(f"x ({OLD} §2) y\n", encoding="utf-8")
    (tmp_path / "b.md").write_text(f"the {OLD} grid\n", encoding="utf-8")
    assert cite.main(["--root", str(tmp_path), "a.md"]) == 0  # dry run: nothing written
    assert (tmp_path / "a.md").read_text(encoding="utf-8") == f"x ({OLD} §2) y\n"
    assert cite.main(["--root", str(tmp_path), "--write", "a.md", "b.md"]) == 1  # b.md stays unmapped
    assert (tmp_path / "a.md").read_text(encoding="utf-8") == "x (docs/PROTOCOLS.md §2) y\n"
