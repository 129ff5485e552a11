"""Figure helpers (bands, phases, outside legends, log ticks, explicit order) and the Exp 01-04 figures."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from paretobandit.errors import InvalidInputError  # noqa: E402
from paretobandit.experiments.common import seed_band  # noqa: E402
from paretobandit.workbench import figures, results  # noqa: E402
from paretobandit.workbench.config import REPO_ROOT  # noqa: E402


def test_seed_band_is_the_t_interval_of_the_seed_mean():
    x = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 9.0]])
    low, high = seed_band(x)
    # column 0: mean 3, sd 2, t(0.975, 2) = 4.302652729911275 -> half width 4.302652729911275 * 2 / sqrt(3)
    half0 = 4.302652729911275 * 2.0 / np.sqrt(3.0)
    # column 1: mean 5, sd sqrt(13)
    half1 = 4.302652729911275 * np.sqrt(13.0) / np.sqrt(3.0)
    np.testing.assert_allclose(low, [3.0 - half0, 5.0 - half1], rtol=1e-9)
    np.testing.assert_allclose(high, [3.0 + half0, 5.0 + half1], rtol=1e-9)
    one_seed = seed_band(np.array([[0.5, 0.7]]))
    np.testing.assert_array_equal(one_seed[0], [0.5, 0.7])
    with pytest.raises(InvalidInputError, match="seeds, steps"):
        seed_band(np.ones(3))


def test_ordered_keys_follow_the_explicit_order():
    assert figures.ordered_keys({"loose": 1, "moderate": 2, "tight": 3, "x": 0},
                                ["tight", "moderate", "loose"]) == ["tight", "moderate", "loose", "x"]


def test_log_ticks_label_more_than_the_decades():
    fig, ax = plt.subplots()
    ax.plot([1, 2], [0.3, 3.0])
    ax.set_yscale("log")
    figures.log_ticks(ax, "y")
    fig.canvas.draw()
    labels = [t.get_text() for t in ax.get_yticklabels() if t.get_text()
              and ax.get_ylim()[0] <= t.get_position()[1] <= ax.get_ylim()[1]]
    assert {"0.5", "1", "2"} <= set(labels)
    plt.close(fig)


def test_phase_spans_name_every_phase_and_legend_stays_outside():
    fig, ax = plt.subplots()
    figures.band(ax, [0, 1, 2, 3], [1, 2, 3, 4], [0, 1, 2, 3], [2, 3, 4, 5], label="run")
    figures.phase_spans(ax, [(0, 1), (1, 2), (2, 3)], ["P1: a", "P2: b", "P3: c"])
    assert [t.get_text() for t in ax.texts] == ["P1: a", "P2: b", "P3: c"]
    assert len(ax.collections) == 1 and len(ax.patches) == 1  # the band; the shaded middle phase
    legend = figures.legend_outside(fig, title="band: demo")
    fig.canvas.draw()
    box = legend.get_window_extent()
    axes_box = ax.get_window_extent()
    assert box.y1 <= axes_box.y0  # entirely below the axes: covers no data
    plt.close(fig)


def _committed(name):
    path = REPO_ROOT / "results" / name / "results.json"
    if not path.is_file():
        pytest.skip(f"no committed results for {name}")
    return results.read_results(path)


def test_budget_drift_figures_name_phases_budgets_and_use_readable_log_ticks():
    doc = _committed("budget_drift")
    fig = figures.figure_functions("budget_drift")["cost_ratio"](doc)
    fig.canvas.draw()
    titles = [ax.get_title() for ax in fig.axes]
    assert [t.split()[0] for t in titles] == ["tight", "moderate", "loose"]  # the protocol's order
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.texts][1].startswith("P2: gemini-2.5-pro repriced")
    lo, hi = ax.get_ylim()
    shown = [t.get_text() for t in ax.get_yticklabels() if t.get_text() and lo <= t.get_position()[1] <= hi]
    assert len(shown) >= 5, shown  # issue 16: only two log ticks before
    assert fig.legends and "budget ceiling (cost = B)" in [t.get_text() for t in fig.legends[0].get_texts()]
    plt.close(fig)
