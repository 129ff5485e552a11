"""PCA artifacts: pickle-free loading with validation, training, projection and whitening."""

from __future__ import annotations

import numpy as np
import pytest

from paretobandit.data import data_root, source_root
from paretobandit.errors import ConfigError, FeatureError, InvalidInputError
from paretobandit.pca import PCA_KEYS, load_pca, save_pca, train_pca, train_pca_from_embeddings


def _reference_pca():
    for root in (data_root(), source_root()):
        if root is not None and (root / "artifacts" / "pca_25_minilm.npz").is_file():
            return root / "artifacts" / "pca_25_minilm.npz"
    return None


def _write(path, **arrays):
    np.savez(path, **arrays)
    return path


def _good_arrays(k=3, d=6):
    rng = np.random.default_rng(0)
    return dict(components=rng.normal(size=(k, d)), mean=rng.normal(size=d),
                explained_variance=np.linspace(2.0, 1.0, k), explained_variance_ratio=np.full(k, 0.1),
                n_samples=np.int64(100))


@pytest.mark.realdata
@pytest.mark.skipif(_reference_pca() is None,
                    reason="reference PCA missing: run `paretobandit data fetch` or set PARETOBANDIT_DATA")
def test_reference_pca_loads():
    art = load_pca(_reference_pca())
    assert art.components.shape == (25, 384) and art.mean.shape == (384,)
    assert art.n_components == 25 and art.input_dim == 384 and art.n_samples == 46696
    assert art.sha256 == "65622d76d9fecd42e601686a0c965632dafe6658eb3abf75acde978b99d97f67"
    assert np.all(np.diff(art.explained_variance) <= 0)


def test_train_roundtrip_matches_sklearn(tmp_path):
    from sklearn.decomposition import PCA

    x = np.random.default_rng(1).normal(size=(60, 10)) @ np.diag(np.linspace(3, 0.5, 10))
    art = train_pca_from_embeddings(x, n_components=4, output_path=tmp_path / "p.npz")
    loaded = load_pca(tmp_path / "p.npz")
    with np.load(tmp_path / "p.npz", allow_pickle=False) as npz:
        assert set(npz.files) == set(PCA_KEYS)
    np.testing.assert_array_equal(loaded.components, art.components)
    assert loaded.n_samples == 60 and loaded.sha256 is not None
    ref = PCA(n_components=4, svd_solver="full").fit(x)
    np.testing.assert_allclose(loaded.project(x, whiten=False), ref.transform(x), atol=1e-10)
    whitened = loaded.project(x)
    np.testing.assert_allclose(whitened.var(axis=0, ddof=1), 1.0, atol=1e-8)
    w, off = loaded.projection()
    np.testing.assert_allclose(x @ w - off, whitened, atol=1e-10)


def test_train_pca_with_callable_encoder(tmp_path):
    def enc(prompts):
        return np.array([[len(p), p.count("a"), p.count("e"), 1.0 * (i % 2)] for i, p in enumerate(prompts)])

    prompts = [f"prompt {'a' * i} {'e' * (i % 5)}" for i in range(12)]
    art = train_pca(prompts, encoder=enc, n_components=2, output_path=tmp_path / "t.npz", batch_size=5)
    assert art.components.shape == (2, 4) and (tmp_path / "t.npz").is_file()


def test_fewer_prompts_than_components():
    with pytest.raises(InvalidInputError, match="at least n_components=25"):
        train_pca(["a", "b"], encoder=lambda ps: np.ones((len(ps), 30)))
    with pytest.raises(InvalidInputError, match="at least"):
        train_pca_from_embeddings(np.ones((3, 8)), n_components=5)


@pytest.mark.parametrize("n", [0, -2, 1.5, True])
def test_bad_n_components(n):
    with pytest.raises(ConfigError):
        train_pca_from_embeddings(np.ones((30, 8)), n_components=n)


def test_n_components_above_dimension():
    with pytest.raises(ConfigError, match="exceeds"):
        train_pca_from_embeddings(np.random.default_rng(0).normal(size=(30, 4)), n_components=5)


def test_bad_encoder_type():
    with pytest.raises(ConfigError, match="encoder"):
        train_pca(["a"] * 3, encoder=42, n_components=1)


def test_nan_embeddings():
    x = np.ones((10, 3))
    x[2, 1] = np.nan
    with pytest.raises(InvalidInputError, match="NaN"):
        train_pca_from_embeddings(x, n_components=2)


@pytest.mark.parametrize("mutate, fragment", [
    (lambda a: a.pop("mean"), "lacks keys"),
    (lambda a: a.__setitem__("mean", np.ones(5)), "mean must have shape"),
    (lambda a: a.__setitem__("components", np.ones(6)), "components must have shape"),
    (lambda a: a.__setitem__("explained_variance", np.ones(2)), "explained_variance must have shape"),
    (lambda a: a.__setitem__("explained_variance", np.array([1.0, 0.0, 1.0])), "> 0"),
    (lambda a: a["components"].__setitem__((0, 0), np.nan), "NaN"),
    (lambda a: a.__setitem__("n_samples", np.array([1, 2])), "n_samples"),
])
def test_malformed_files(tmp_path, mutate, fragment):
    arrays = _good_arrays()
    mutate(arrays)
    path = _write(tmp_path / "bad.npz", **arrays)
    with pytest.raises(FeatureError, match=fragment):
        load_pca(path)


def test_pickled_arrays_are_refused(tmp_path):
    arrays = _good_arrays()
    arrays["components"] = np.array([object()] * 3, dtype=object)
    path = tmp_path / "pickled.npz"
    np.savez(path, **arrays)  # an object array is stored pickled
    with pytest.raises(FeatureError, match="pickle-free"):
        load_pca(path)


def test_not_an_archive(tmp_path):
    (tmp_path / "x.npz").write_bytes(b"garbage")
    with pytest.raises(FeatureError, match="not a readable"):
        load_pca(tmp_path / "x.npz")
    with pytest.raises(FeatureError, match="not found"):
        load_pca(tmp_path / "missing.npz")


def test_save_is_reloadable(tmp_path):
    art = train_pca_from_embeddings(np.random.default_rng(5).normal(size=(20, 5)), n_components=2)
    saved = save_pca(art, tmp_path / "sub" / "p.npz")
    np.testing.assert_array_equal(saved.mean, art.mean)
    with pytest.raises(FeatureError, match="expects 5-d"):
        saved.project(np.ones(4))
