"""The README's result tables are generated from results/*/summary.csv and must not drift from them."""

from pathlib import Path

import pytest

from paretobandit.workbench import readme

ROOT = Path(__file__).resolve().parents[1]


def test_readme_tables_match_results():
    text = (ROOT / "README.md").read_text()
    assert "<!-- table:budget_pacing -->" in text
    assert readme.render(text, ROOT) == text, "run `python -m paretobandit.workbench readme`"


def test_render_rejects_unknown_table():
    with pytest.raises(KeyError, match="unknown table"):
        readme.render("<!-- table:nope -->\n<!-- /table:nope -->", ROOT)


def test_exp01_table_has_every_budget():
    table = readme.budget_pacing(ROOT)
    assert len([line for line in table.splitlines() if line.startswith("| ") and "e-" in line]) == 7


# ------------------------------------------------------------ the parts of the README that are not generated
import argparse  # noqa: E402
import re  # noqa: E402
import subprocess  # noqa: E402

from paretobandit.cli import build_parser  # noqa: E402
from paretobandit.workbench.__main__ import _parser as workbench_parser  # noqa: E402

_FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.M | re.S)


def _spans(text: str) -> list[str]:
    """Inline code spans (whitespace-normalised: they may wrap lines), outside fenced blocks."""
    return [" ".join(s.split()) for s in re.findall(r"`([^`]+)`", _FENCE.sub("", text))]


def _code(text: str) -> list[str]:
    """Inline code spans and the lines of fenced blocks."""
    return _spans(text) + [line for block in _FENCE.findall(text) for line in block.splitlines()]


def _contents_paths(text: str) -> set[str]:
    """Paths of the Contents tree: top-level entries from the root, indented ones inside the last folder."""
    block = re.search(r"## Contents\n```\n(.*?)```", text, re.S).group(1)
    paths, parent = set(), ""
    for line in block.splitlines():
        indent = len(line) - len(line.lstrip(" "))
        names = re.match(r" *((?:[\w.\-/]+(?:, )?)+)", line)
        if not names or indent > 2:
            continue
        for name in names.group(1).split(", "):
            if "." not in name and not name.endswith("/"):
                continue
            if indent == 0:
                paths.add(name.rstrip("/"))
                parent = name if name.endswith("/") else parent
            else:
                paths.add(parent + name.rstrip("/"))
    return paths


def _named_paths(text: str) -> set[str]:
    paths = _contents_paths(text)
    for code in _spans(text):
        for token in code.split():
            token = token.strip(",;:()'\"")
            if "/" in token and re.fullmatch(r"[\w.][\w.\-/]*", token) and not token.startswith(".."):
                paths.add(token.rstrip("/"))
    return paths


def _ignored(path: str) -> bool:
    """Generated outputs the README names (results/_ci/, paper/build/main.pdf, data/raw/, ...)."""
    try:  # a folder that does not exist yet only matches a `dir/` pattern with its slash
        return any(subprocess.run(["git", "check-ignore", "-q", p], cwd=ROOT, check=False).returncode == 0
                   for p in (path, path + "/"))
    except OSError:
        return False


def test_contents_tree_parser():
    text = ("## Contents\n```\npkg/       the package\n  a.py, b.py  modules\n  sub/        more\n"
            "                    a continuation line\nREADME.md  this\n```\n")
    assert _contents_paths(text) == {"pkg", "pkg/a.py", "pkg/b.py", "pkg/sub", "README.md"}


def test_every_path_the_readme_names_exists():
    paths = _named_paths((ROOT / "README.md").read_text())
    assert {"paretobandit/cli.py", "paretobandit/sim", "docs/RELIABILITY.md", "tests/test_paper.py",
            ".ci/run"} <= paths  # the extraction works
    missing = sorted(p for p in paths if not (ROOT / p).exists() and not _ignored(p))
    assert missing == [], f"README names paths that do not exist: {missing}"


def test_every_make_target_the_readme_names_exists():
    targets = set(re.findall(r"^([\w-]+):", (ROOT / "Makefile").read_text(), re.M))
    named = {m for code in _code((ROOT / "README.md").read_text())
             for m in re.findall(r"(?:^|\s)make ([a-z][\w-]*)", code)}
    assert {"test", "reproduce", "paper"} <= named
    assert named - targets == set(), f"README names make targets that do not exist: {named - targets}"


def _choices(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(subs[0].choices) if subs else {}


def _options(parser: argparse.ArgumentParser) -> set[str]:
    return {opt for a in parser._actions for opt in a.option_strings}


def test_every_cli_command_the_readme_names_exists():
    codes = _code((ROOT / "README.md").read_text())
    cli, checked = build_parser(), []
    for code in codes:
        if re.match(r"\s*(from|import) ", code):  # Python, not a command line
            continue
        for rest in re.findall(r"(?:^|\s)paretobandit ([^\"'][^`]*)", code):
            for alternative in rest.split("|"):
                words = alternative.split()
                head = words[0]
                if head.startswith("-"):
                    assert head in _options(cli), f"README names `paretobandit {head}`, which does not exist"
                    checked.append(head)
                    continue
                commands = _choices(cli)
                assert head in commands, f"README names `paretobandit {head}`, which is not a command"
                actions, target, name = _choices(commands[head]), commands[head], head
                if actions and len(words) > 1 and not words[1].startswith("-"):
                    assert words[1] in actions, f"README: `paretobandit {head} {words[1]}`: no such action"
                    target, name = actions[words[1]], f"{head} {words[1]}"  # flags belong to the action
                for flag in (w.split("=")[0] for w in words[1:] if w.startswith("--")):
                    assert flag in _options(target), f"`paretobandit {name}` has no {flag}"
                checked.append(head)
        for sub in re.findall(r"python -m paretobandit\.workbench ([a-z][\w-]*)", code):
            assert sub in _choices(workbench_parser()), f"README names `workbench {sub}`: no such command"
            checked.append(f"workbench {sub}")
    assert {"route", "feedback", "--check-model", "workbench run", "workbench readme"} <= set(checked)
