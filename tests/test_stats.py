"""Statistics helpers of docs/PROTOCOLS.md §A0.4 (paretobandit.workbench.stats), hand-checked values."""

from __future__ import annotations

import numpy as np
import pytest

from paretobandit.workbench import stats


def test_bootstrap_indices_are_the_rng42_matrix():
    idx = stats.bootstrap_indices(5, n_resamples=3)
    expected = np.random.default_rng(42).integers(0, 5, size=(3, 5))
    assert idx.shape == (3, 5) and np.array_equal(idx, expected)
    assert idx.min() >= 0 and idx.max() <= 4


def test_bootstrap_stat_ci_by_hand():
    # Two resamples only: the CI bounds are interpolated between the two resample statistics.
    x = np.array([1.0, 2.0, 10.0])
    idx = np.random.default_rng(42).integers(0, 3, size=(2, 3))
    means = x[idx].mean(axis=1)
    meds = np.median(x[idx], axis=1)
    lo, hi = stats.bootstrap_stat_ci(x, "mean", n_resamples=2)
    # 2.5 % / 97.5 % with linear interpolation between two values: min + 0.025·range, min + 0.975·range
    assert lo == pytest.approx(means.min() + 0.025 * np.ptp(means))
    assert hi == pytest.approx(means.min() + 0.975 * np.ptp(means))
    lo, hi = stats.bootstrap_stat_ci(x, "median", n_resamples=2, confidence_level=0.5)
    assert lo == pytest.approx(meds.min() + 0.25 * np.ptp(meds))
    assert hi == pytest.approx(meds.min() + 0.75 * np.ptp(meds))


def test_median_ci_differs_from_mean_ci_on_skewed_data():
    x = [1.0] * 9 + [100.0]
    mean_ci = stats.bootstrap_stat_ci(x, "mean")
    med_ci = stats.bootstrap_stat_ci(x, "median")
    assert med_ci == (1.0, 1.0)  # a median above 1 needs >= 5 of 10 draws to be the outlier (p < 0.2 %)
    assert mean_ci[1] > 10.0


def test_bootstrap_ci_is_the_mean_version():
    x = np.random.default_rng(3).normal(size=12)
    assert stats.bootstrap_ci(x) == stats.bootstrap_stat_ci(x, "mean")
    assert stats.bootstrap_ci(x, confidence_level=0.9875) == stats.bootstrap_stat_ci(
        x, "mean", confidence_level=0.9875
    )


def test_paired_bootstrap_uses_one_matrix():
    x = np.array([1.0, 2.0, 3.0, 4.0])
    y = 2.0 * x
    # x/y is 0.5 in every resample only if both arrays are resampled with the SAME indices
    assert stats.paired_bootstrap_ci(x, y, lambda a, b: a.mean(axis=1) / b.mean(axis=1)) == (0.5, 0.5)
    with pytest.raises(ValueError, match="equal length"):
        stats.paired_bootstrap_ci(x, y[:3], lambda a, b: a.mean(axis=1))
    with pytest.raises(ValueError, match="one value per resample"):
        stats.paired_bootstrap_ci(x, y, lambda a, b: a)


def test_bonferroni_level():
    assert stats.bonferroni_level(4) == pytest.approx(0.9875)
    assert stats.bonferroni_level(9) == pytest.approx(1 - 0.05 / 9)
    with pytest.raises(ValueError):
        stats.bonferroni_level(0)


def test_holm_by_hand():
    # sorted 0.01, 0.03, 0.04, 0.2 -> 4·0.01 = 0.04, 3·0.03 = 0.09, max(0.09, 2·0.04) = 0.09, 0.2
    assert stats.holm([0.01, 0.04, 0.03, 0.2]) == pytest.approx([0.04, 0.09, 0.09, 0.2])
    assert stats.holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])  # capped at 1
    assert stats.holm([0.02]) == [0.02]
    with pytest.raises(ValueError):
        stats.holm([0.1, 1.5])


def test_normal_ci_by_hand():
    lo, hi = stats.normal_ci(10.0, 2.0, 16)  # 1.96·2/4 = 0.98
    assert (lo, hi) == pytest.approx((9.02, 10.98))


def test_wilson_by_hand():
    # p = 0.3, n = 10, z = 1.96 (the protocol's):
    # centre (0.3 + z²/20)/(1 + z²/10), half z·sqrt(0.021 + z²/400)/(1 + z²/10)
    z = 1.96
    centre = (0.3 + z * z / 20) / (1 + z * z / 10)
    half = z * np.sqrt(0.3 * 0.7 / 10 + z * z / 400) / (1 + z * z / 10)
    assert stats.wilson_interval(3, 10) == pytest.approx((centre - half, centre + half), rel=1e-12)
    assert stats.wilson_interval(3, 10) == pytest.approx((0.10779, 0.60322), abs=1e-5)
    with pytest.raises(ValueError):
        stats.wilson_interval(11, 10)


def test_sign_test_by_hand():
    # 3 wins, 1 loss, 1 tie (removed): one-sided P(X >= 3 | n=4) = 5/16; two-sided 2·5/16
    out = stats.sign_test([1.0, 2.0, -1.0, 0.0, 3.0])
    assert out == {"wins": 3, "n": 4, "p": pytest.approx(5 / 16)}
    assert stats.sign_test([1.0, 2.0, -1.0, 0.0, 3.0], "two-sided")["p"] == pytest.approx(10 / 16)
    assert stats.sign_test([1.0] * 20)["p"] == pytest.approx(0.5**20)
    assert stats.sign_test([0.0, 0.0])["p"] == 1.0


def test_fisher_less_by_hand():
    # [[0, 20], [5, 15]]: P(X = 0) = C(20,0)·C(20,5)/C(40,5) = 15504/658008
    assert stats.fisher_less(0, 20, 5, 20) == pytest.approx(15504 / 658008)
    assert stats.fisher_less(0, 20, 0, 20) == 1.0
    with pytest.raises(ValueError):
        stats.fisher_less(21, 20, 0, 20)


def test_pvalue_macro_format():
    from paretobandit.workbench.macros import format_number

    assert format_number("sign_pvalue_holm", 3.2e-6) == r"\ensuremath{<10^{-5}}"      # 3.2e-6 < 1e-5
    assert format_number("sign_pvalue_holm", 5e-5) == r"\ensuremath{<10^{-4}}"
    assert format_number("fisher_pvalue", 0.0039) == "0.0039"
    assert format_number("fisher_pvalue", 0.412) == "0.412"
