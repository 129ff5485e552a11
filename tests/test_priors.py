"""Priors: generation (array and reward-table forms), file format, rescaling, router prior modes."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from paretobandit import BanditRouter, FeatureService, generate_warmup_priors, load_priors, router_build
from paretobandit.errors import ConfigError, DataError, DimensionMismatchError, InvalidInputError
from paretobandit.priors import save_priors

NAMES = ["meta-llama/llama-3.1-8b-instruct", "mistralai/mistral-large-2512", "google/gemini-2.5-pro"]


def _data(n=200, d=26, k=3, seed=0):
    rng = np.random.default_rng(seed)
    x = np.c_[rng.normal(size=(n, d - 1)), np.ones(n)]
    r = rng.random((n, k))
    return x, r


def test_array_form_matches_offline_statistics():
    x, r = _data()
    models, a, b = generate_warmup_priors(x, r, models=NAMES)
    # independent reference (BLAS, not the row-by-row kernel): A_off = p(I + XᵀX), b_off = p·RᵀX per arm
    a_ref = np.broadcast_to(0.1 * (np.eye(26) + x.T @ x), (3, 26, 26))
    b_ref = 0.1 * r.T @ x
    assert models == NAMES
    np.testing.assert_allclose(a, a_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(b, b_ref, rtol=1e-12, atol=1e-12)
    assert a[0, -1, -1] == pytest.approx(0.1 * (1 + 200))


def test_row_form_equals_array_form():
    x, r = _data(n=50, d=5)
    fs = FeatureService.for_precomputed(4)
    rows = [
        {"prompt": x[i, :-1], "arms": {m: {"reward": r[i, j]} for j, m in enumerate(NAMES)}}
        for i in range(50)
    ]
    models, a, b = generate_warmup_priors(rows, fs, plasticity=0.2)
    m2, a2, b2 = generate_warmup_priors(x, r, models=NAMES, plasticity=0.2)
    assert models == m2
    np.testing.assert_allclose(a, a2)
    np.testing.assert_allclose(b, b2)


def test_generation_validation():
    x, r = _data(n=10, d=4)
    with pytest.raises(InvalidInputError):
        generate_warmup_priors(x, r[:5])
    with pytest.raises(InvalidInputError):
        generate_warmup_priors(x, np.full_like(r, np.nan))
    with pytest.raises(ConfigError):
        generate_warmup_priors(x, r, plasticity=0)
    with pytest.raises(InvalidInputError):
        generate_warmup_priors([{"prompt": "x", "arms": {"a": {"reward": 1}}}])
    with pytest.raises(InvalidInputError):
        generate_warmup_priors([{"arms": {}}], FeatureService.for_precomputed(3))


def test_save_load_and_rescale(tmp_path):
    x, r = _data()
    models, a, b = generate_warmup_priors(x, r, models=NAMES)
    path = save_priors(tmp_path / "p.npz", models, a, b, {"plasticity": 0.1})
    m2, a2, b2, meta = load_priors(path)
    assert m2 == NAMES and meta["plasticity"] == 0.1 and meta["context_dim"] == 26
    np.testing.assert_array_equal(a2, a)
    m3, a3, b3, _ = load_priors(path, n_effective=1163.9)
    # docs/PROTOCOLS.md §1.5 with LAPACK: s = n_eff / A_off[-1, -1], A = s·A_off + λ₀I, b = s·b_off + λ₀·θ_off
    s = 1163.9 / a[:, -1, -1]
    theta_off = np.linalg.solve(a, b[..., None])[..., 0]
    np.testing.assert_allclose(a3, s[:, None, None] * a + np.eye(26), rtol=1e-12)
    np.testing.assert_allclose(b3, s[:, None] * b + theta_off, rtol=1e-9, atol=1e-12)
    assert a3[0, -1, -1] == pytest.approx(1163.9 + 1.0)  # the bias coordinate now counts n_eff samples


def test_load_rejects_bad_files(tmp_path):
    with pytest.raises(DataError):
        load_priors(tmp_path / "missing.npz")
    np.savez(
        tmp_path / "obj.npz", models=np.array([object()], dtype=object), A=np.eye(2)[None], b=np.ones((1, 2))
    )
    with pytest.raises(DataError):
        load_priors(tmp_path / "obj.npz")
    np.savez(tmp_path / "shape.npz", models=np.array(["a"]), A=np.eye(2)[None], b=np.ones((1, 3)))
    with pytest.raises(DataError, match="shape"):
        load_priors(tmp_path / "shape.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError):
        load_priors(tmp_path / "junk.npz")


def test_router_path_priors_partial_and_cold(tmp_path):
    x, r = _data()
    _, a, b = generate_warmup_priors(x, r[:, :2], models=NAMES[:2])
    path = save_priors(tmp_path / "p.npz", NAMES[:2], a, b)
    router = BanditRouter.create(priors=str(path), seed=0)
    assert router.prior_info["cold"] == [NAMES[2]]
    _, a_s, b_s, _ = load_priors(path, 1163.9)
    np.testing.assert_array_equal(router.arm_state(NAMES[1])["A"], a_s[1])
    np.testing.assert_array_equal(router.arm_state(NAMES[2])["A"], np.eye(26))
    np.testing.assert_allclose(router.arm_state(NAMES[0])["theta"], np.linalg.solve(a[0], b[0]), atol=1e-10)


def test_router_path_dimension_inferred_and_mismatch(tmp_path):
    x, r = _data(d=8)
    _, a, b = generate_warmup_priors(x, r, models=NAMES)
    path = save_priors(tmp_path / "p8.npz", NAMES, a, b)
    router = BanditRouter.create(priors=path)
    assert router.dimension == 8
    with pytest.raises(DimensionMismatchError):
        BanditRouter.create(priors=path, feature_service=FeatureService.for_precomputed(25))
    with pytest.raises(ConfigError):
        BanditRouter.create(priors=path, model_registry={"other": {"blended": 1.0}})


def test_auto_and_warmup_modes(tmp_path, monkeypatch, caplog):
    x, r = _data(d=8)
    _, a, b = generate_warmup_priors(x, r, models=NAMES)
    wrong_dim = save_priors(tmp_path / "p.npz", NAMES, a, b)
    monkeypatch.setattr(router_build, "default_priors_path", lambda: wrong_dim)
    with caplog.at_level(logging.WARNING, logger="paretobandit.router"):
        router = BanditRouter.create(priors="auto")
    assert router.prior_info["source"] == "none" and "dimension" in caplog.text
    with pytest.raises(DimensionMismatchError):
        BanditRouter.create(priors="warmup")
    monkeypatch.setattr(router_build, "default_priors_path", lambda: None)
    assert BanditRouter.create(priors="auto").prior_info["source"] == "none"
    with pytest.raises(DataError):
        BanditRouter.create(priors="warmup")


@pytest.mark.realdata
def test_real_priors_file():
    from paretobandit.priors import default_priors_path

    path = default_priors_path()
    if path is None:
        pytest.skip("priors_k3_d26.npz not available (run the data step)")
    models, a, b, meta = load_priors(path)
    assert sorted(models) == sorted(NAMES) and a.shape == (3, 26, 26) and b.shape == (3, 26)
    assert a[0, -1, -1] == pytest.approx(0.1 * (1 + 8373))
    _, a_s, _, _ = load_priors(path, n_effective=1163.9)
    assert a_s[0, -1, -1] == pytest.approx(1163.9 + 1.0)
