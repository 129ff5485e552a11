"""LaTeX macros generated from a results document: every number in the paper comes from here.

Each scalar under ``results["summary"]`` becomes one ``\\newcommand``. The macro name is the experiment
prefix followed by the CamelCase path of the value, with digits spelled out so names are letters only:
``summary["pacer"]["budget_3"]["mean_reward"]`` with prefix ``ExpOne`` becomes
``\\ExpOnePacerBudgetThreeMeanReward``.
Lists (trajectories, table rows) are skipped. The number format is chosen from the value's kind
(:func:`value_kind`): counts print as integers, shares and rewards with fixed decimals, costs in
scientific notation.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

__all__ = ["macro_name", "value_kind", "format_number", "latex_escape", "iter_macros", "render_macros",
           "write_macros"]

_WORDS = ["Zero", "One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine", "Ten", "Eleven",
          "Twelve", "Thirteen", "Fourteen", "Fifteen", "Sixteen", "Seventeen", "Eighteen", "Nineteen",
          "Twenty"]
_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&", "#": r"\#",
                  "^": r"\textasciicircum{}", "_": r"\_", "%": r"\%", "~": r"\textasciitilde{}"}


def _number_word(digits: str) -> str:
    n = int(digits)
    if n <= 20 and (digits == "0" or not digits.startswith("0")):
        return _WORDS[n]
    return "".join(_WORDS[int(d)] for d in digits)


def macro_name(*parts: str) -> str:
    """CamelCase, letters-only macro name (without backslash) from ``parts``.

    Words are split on anything that is not a letter or digit and capitalised; digit runs are spelled
    out (``3`` → ``Three``, ``12`` → ``Twelve``, ``2512`` → ``TwoFiveOneTwo``).

    Examples
    --------
    >>> macro_name("ExpOne", "pacer", "budget_3", "mean_reward")
    'ExpOnePacerBudgetThreeMeanReward'
    """
    out = []
    for part in parts:
        for token in re.findall(r"[A-Za-z]+|[0-9]+", str(part)):
            out.append(_number_word(token) if token.isdigit() else token[0].upper() + token[1:])
    name = "".join(out)
    if not name or not name.isalpha() or not name.isascii():
        raise ValueError(f"cannot build a letters-only macro name from {parts!r}")
    return name


def latex_escape(text: str) -> str:
    """Escape LaTeX special characters in ``text``."""
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(text))


def _sci(x: float, digits: int = 2) -> str:
    mantissa, exponent = f"{x:.{digits}e}".split("e")
    exp = int(exponent)
    if exp == 0:
        return mantissa
    return rf"\ensuremath{{{mantissa}\times 10^{{{exp}}}}}"


_COUNT_KEY = re.compile(r"(?:^|_)(?:steps?|runs|seeds|prompts|pulls|rows|cells|levels|tables)(?:_|$)"
                        r"|^(?:n|rank)_")
_NOT_COUNT_KEY = re.compile(r"(?:^|_)(?:frac|pct|percent|share|ratio|util|utilisation|reward|cost|lambda)"
                            r"(?:_|$)")


def value_kind(key: str, value: float | int | bool) -> str:
    """The kind of a summary value, which decides its format (see :func:`format_number`).

    One of ``"bool"``, ``"integer"`` (an int, or an integral float of a count key), ``"count"`` (a
    non-integral float of a count key: a mean or CI of step/run/seed counts), ``"nonfinite"``,
    ``"pvalue"``, ``"percent"``, ``"cost"``, ``"util"`` or ``"decimal"``. A key counts things when one of its
    ``_``-separated words is ``step(s)``, ``runs``, ``seeds``, ``prompts``, ``pulls``, ``rows``,
    ``cells``, ``levels`` or ``tables``, or it starts with ``n_`` or ``rank_`` -- unless a word marks a
    fraction, share, ratio, reward, cost or λ.
    """
    k = key.lower()
    if isinstance(value, bool):
        return "bool"
    is_count = bool(_COUNT_KEY.search(k)) and not _NOT_COUNT_KEY.search(k)
    if isinstance(value, int):
        return "integer"
    x = float(value)
    if not math.isfinite(x):
        return "nonfinite"
    if is_count:
        return "integer" if x.is_integer() else "count"
    if "pvalue" in k:
        return "pvalue"
    if "pct" in k or "percent" in k:
        return "percent"
    if "cost" in k or "budget" in k or "price" in k:
        return "cost"
    if "util" in k:
        return "util"
    return "decimal"


def format_number(key: str, value: float | int | bool) -> str:
    """Format ``value`` for the paper, choosing the style from its kind (:func:`value_kind`).

    - booleans: ``yes``/``no``; integers and integral counts (``120.0`` adoption steps): ``120``;
    - non-integral counts (a mean of step counts): one decimal, ``148.5``;
    - ``*pvalue*``: ``<10^{k}`` below 1e-4 (k = ⌊log10 p⌋ + 1), else four decimals below 0.01, three above;
    - ``*pct*`` / ``*percent*``: one decimal (percent sign left to the text);
    - ``*cost*`` / ``*budget*``: scientific, 3 significant digits (``\\ensuremath{2.93\\times 10^{-5}}``);
    - ``*util*``: two decimals; ``*reward*``, ``*lambda*``, ``*quality*`` and everything else: three decimals.
    """
    kind = value_kind(key, value)
    if kind == "bool":
        return "yes" if value else "no"
    if kind == "integer":
        return str(int(value))
    if kind == "nonfinite":
        return "n/a"
    x = float(value)
    if kind == "pvalue":
        if 0 < x < 1e-4:
            return rf"\ensuremath{{<10^{{{math.floor(math.log10(x)) + 1}}}}}"
        return f"{x:.4f}" if x < 0.01 else f"{x:.3f}"
    if kind in ("count", "percent"):
        return f"{x:.1f}"
    if kind == "cost":
        return _sci(x) if x != 0 else "0"
    if kind == "util":
        return f"{x:.2f}"
    return f"{x:.3f}"


def _walk(node: Any, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], Any]]:
    if isinstance(node, Mapping):
        for key in sorted(node):
            yield from _walk(node[key], (*path, str(key)))
    elif isinstance(node, (list, tuple)) or node is None:
        return
    else:
        yield path, node


def iter_macros(results: Mapping[str, Any], prefix: str) -> Iterator[tuple[str, str]]:
    """Yield ``(name, latex_value)`` for every scalar of ``results["summary"]``, in sorted path order.

    Raises
    ------
    ValueError
        If two paths map to the same macro name.
    """
    seen: dict[str, tuple[str, ...]] = {}
    for path, value in _walk(results.get("summary", {}), ()):
        name = macro_name(prefix, *path)
        if name in seen:
            raise ValueError(f"macro \\{name} would be defined by both {seen[name]} and {path}")
        seen[name] = path
        text = latex_escape(value) if isinstance(value, str) else format_number(path[-1], value)
        yield name, text


def render_macros(results: Mapping[str, Any], prefix: str) -> str:
    """Text of a macros file for ``results`` (a header comment, then one ``\\newcommand`` per line)."""
    lines = [f"% Generated from results JSON of experiment {results.get('experiment', '?')!s}; do not edit.",
             f"% Commit {results.get('provenance', {}).get('git_commit', 'unknown')}."]
    lines += [f"\\newcommand{{\\{name}}}{{{text}}}" for name, text in iter_macros(results, prefix)]
    return "\n".join(lines) + "\n"


def write_macros(path: Path | str, results: Mapping[str, Any], prefix: str) -> Path:
    """Write :func:`render_macros` output to ``path`` (parents created); return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_macros(results, prefix), encoding="utf-8")
    return path
