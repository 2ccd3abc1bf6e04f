"""Training options measured on real music (benchmarks/real_music.md): TrainConfig.stft_transform
(mgc_jax.nets.input_transform: values, hooks in fold_data / training / inference) and TrainConfig.select."""
from __future__ import annotations

import hashlib
import json
import types

import numpy as np
import pytest

from mgc_jax.data.folds import Split
from mgc_jax.data.gtzan import GENRES
from mgc_jax.data.track import Track
from mgc_jax.nets import input_transform as it


def test_transform_values():
    x = np.array([[0.0, 1.0, np.e - 1, 1e-9, 100.0]], np.float32)
    np.testing.assert_allclose(it.transform_stft(x, "log1p"), [[0.0, np.log(2), 1.0, 1e-9, np.log(101)]], rtol=1e-6)
    np.testing.assert_allclose(it.transform_stft(x, "db"), [[-100.0, 0.0, 20 * np.log10(np.e - 1), -100.0, 40.0]],
                               rtol=1e-6)
    assert it.transform_stft(x, "db").dtype == np.float32
    assert it.transform_stft(x, "none") is x
    with pytest.raises(ValueError, match="stft_transform='log'"):
        it.transform_stft(x, "log")


def test_map_transform_touches_the_stft_map_only():
    assert it.map_transform("none") is None
    f = it.map_transform("log1p")
    x = {"stft": np.full((2, 3), 3.0, np.float32), "music": np.full((2, 8), 3.0, np.float32)}
    y = f(x)
    np.testing.assert_allclose(y["stft"], np.log(4.0), rtol=1e-6)
    assert y["music"] is x["music"]
    with pytest.raises(ValueError, match="expected one of"):
        it.map_transform("sqrt")


def test_train_config_refuses_an_unknown_transform():
    from mgc_jax.config import TrainConfig

    with pytest.raises(ValueError, match=r"TrainConfig.stft_transform='log2'"):
        TrainConfig(net="stft", fold=0, stft_transform="log2")
    from mgc_jax.config import paper_config

    assert TrainConfig(net="stft", fold=0).stft_transform == "log1p"  # decided on real music
    assert paper_config("stft", 0).stft_transform == "none"  # the paper's linear magnitude


class _Cache:
    """Non-negative 'magnitudes' with a genre-specific bin, 130 frames (one 128-frame clip) per track."""

    def __init__(self, genre_of):
        self.genre_of = genre_of

    def load(self, track_id, kind, mmap=True):
        seed = int.from_bytes(hashlib.sha256(f"{track_id}/{kind}".encode()).digest()[:8], "little")
        x = np.abs(np.random.default_rng(seed).standard_normal((130, 12 if kind == "stft" else 8))) * 50.0
        x[:, GENRES.index(self.genre_of[track_id]) % x.shape[1]] += 200.0
        return x.astype(np.float32)


def _corpus_and_split():
    """A 3-tracks-per-genre corpus over _Cache and its split (tracks 0 / 1 / 2 of each genre)."""
    tracks = tuple(Track(f"{g}.{i:05d}", g, "") for g in GENRES for i in range(3))
    corpus = types.SimpleNamespace(tracks=tracks, cache=_Cache({t.track_id: t.genre for t in tracks}),
                                   classes=tuple(GENRES),
                                   labels=lambda ids: np.array([GENRES.index(i.split(".")[0]) for i in ids], np.int32))
    pick = lambda i: tuple(f"{g}.{i:05d}" for g in GENRES)  # noqa: E731
    return corpus, Split(pick(0), pick(1), pick(2))


def test_training_fits_the_standardizer_on_transformed_maps_and_inference_applies_both(tmp_path):
    from fake_data import tiny_config

    from mgc_jax.serve.inference import load_trained
    from mgc_jax.train.loop import fold_data, train_and_evaluate
    from mgc_jax.train.rundir import read_test_probs

    corpus, split = _corpus_and_split()
    cfg = tiny_config("stft", epochs=1, standardize=True, stft_transform="log1p")
    data = fold_data(cfg, corpus, split)
    res = train_and_evaluate(cfg, tmp_path / "run", data, in_bins={"stft": 12})

    trained = load_trained(res.run_dir)
    frames = np.concatenate([np.log1p(corpus.cache.load(t, "stft")) for t in split.train]).astype(np.float64)
    np.testing.assert_allclose(trained.standardizer.mean["stft"], frames.mean(0), rtol=1e-5)
    np.testing.assert_allclose(trained.standardizer.std["stft"], frames.std(0), rtol=1e-4)

    raw = np.stack([corpus.cache.load(t, "stft")[:128] for t in split.test])
    tp = read_test_probs(res.test_probs_path)
    np.testing.assert_allclose(trained.predict({"stft": raw}), np.concatenate(tp.probs), rtol=1e-5, atol=1e-7)


def test_select_last_tests_and_serves_the_last_epoch(tmp_path):
    from fake_data import WIDTHS, make_fold_data, tiny_config

    from mgc_jax.config import TrainConfig
    from mgc_jax.serve.inference import load_trained
    from mgc_jax.train.loop import train_and_evaluate

    cfg = tiny_config(epochs=3, select="last", learning_rate=1e-2)
    res = train_and_evaluate(cfg, tmp_path / "run", make_fold_data(cfg.kinds), in_bins=WIDTHS)
    assert res.best_epoch == 3 and load_trained(res.run_dir).epoch == 3
    assert load_trained(res.run_dir, step=2).epoch == 2  # an explicit step still wins
    with pytest.raises(ValueError, match=r"TrainConfig.select='first'"):
        TrainConfig(net="music", fold=0, select="first")


def test_paper_flag_restores_the_papers_settings_and_explicit_flags_win():
    import json
    import subprocess
    import sys

    code = ("import json, sys; from absl import flags; import launch.train_flags as tf; "
            "flags.FLAGS(sys.argv); c = tf.train_config('music', 0); "
            "print(json.dumps({**{k: getattr(c, k) for k in ('standardize', 'stft_transform', 'select', 'epochs', "
            "'crops', 'mixup')}, 'stft_bands': c.model.stft_bands}))")

    def settings(*argv):
        out = subprocess.run([sys.executable, "-c", code, "prog", *argv], capture_output=True, text=True, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])

    assert settings() == {"standardize": True, "stft_transform": "log1p", "select": "last", "epochs": 20,
                          "crops": None, "mixup": None, "stft_bands": 0}
    assert settings("--paper") == {"standardize": False, "stft_transform": "none", "select": "best_valid",
                                   "epochs": 40, "crops": "grid", "mixup": 0.0, "stft_bands": 0}
    assert settings("--stft_bands=96")["stft_bands"] == 96 and settings("--paper", "--stft_bands=48")["stft_bands"] == 48
    assert settings("--paper", "--mixup=0.2")["mixup"] == 0.2
    assert settings("--paper", "--epochs=3", "--standardize")["epochs"] == 3
    assert settings("--paper", "--epochs=3", "--standardize")["standardize"] is True


def test_mix_batch_mixes_real_rows_with_real_partners():
    import jax

    from mgc_jax.train.steps import mix_batch

    n, c = 8, 6
    x = {"music": np.arange(n, dtype=np.float32)[:, None, None] * np.ones((n, 4, 3), np.float32)}
    y = np.array([0, 1, 2, 3, 4, 5, 0, 0], np.int32)  # real row i has label i: its partner can be read back
    w = np.array([1, 1, 1, 1, 1, 1, 0, 0], np.float32)  # two padding rows
    moved = 0
    for seed in range(5):
        mixed, target = mix_batch(x, y, w, jax.random.key(seed), alpha=0.4, num_classes=c)
        mixed, target = np.asarray(mixed["music"]), np.asarray(target)
        np.testing.assert_allclose(target.sum(1), 1.0, rtol=1e-6)
        for i in range(6):
            assert np.all(mixed[i] == mixed[i, 0, 0])  # one weight per row
            lam = target[i, i]
            others = [j for j in range(c) if j != i and target[i, j] > 1e-6]
            assert len(others) <= 1
            j = others[0] if others else i  # the partner, a real row (labels 0..5 are rows 0..5 only)
            np.testing.assert_allclose(mixed[i, 0, 0], lam * i + (1 - lam) * j, rtol=1e-5, atol=1e-5)
            moved += j != i
    assert moved > 10
    again = mix_batch(x, y, w, jax.random.key(4), alpha=0.4, num_classes=c)
    np.testing.assert_array_equal(np.asarray(again[0]["music"]), mixed)  # a pure function of the key


def test_training_with_mixup_and_random_crops(tmp_path):
    from fake_data import tiny_config

    from mgc_jax.config import TrainConfig
    from mgc_jax.train.loop import fold_data, train_and_evaluate

    corpus, split = _corpus_and_split()
    losses = {}
    plain = {"crops": "grid", "mixup": 0.0}
    for name, over in {"plain": plain, "mixup": {**plain, "mixup": 0.4}, "crops": {**plain, "crops": "random"}}.items():
        cfg = tiny_config("music", epochs=2, **over)
        res = train_and_evaluate(cfg, tmp_path / name, fold_data(cfg, corpus, split), in_bins={"music": 8})
        losses[name] = [json.loads(line)["loss"] for line in (res.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert all(np.isfinite(v).all() for v in losses.values())
    assert losses["mixup"] != losses["plain"] and losses["crops"] != losses["plain"]
    with pytest.raises(ValueError, match=r"TrainConfig.crops='jitter'"):
        TrainConfig(net="music", fold=0, crops="jitter")
    with pytest.raises(ValueError, match=r"TrainConfig.mixup=-1"):
        TrainConfig(net="music", fold=0, mixup=-1.0)
