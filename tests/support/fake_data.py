"""Tiny in-memory stand-ins for the data side (feature cache, clip datasets) used by the training tests.

They follow the contract of mgc_jax.data.cache.FeatureCache.load and mgc_jax.data.clips.ClipDataset (batches whose
order is a pure function of (seed, epoch), track_clips) at toy sizes, so model/training tests neither
depend on the data modules nor extract audio. Each genre gets a learnable signature: a mean shift on
its own feature column. Run as a script, it trains a tiny config in a run directory (the kill/resume
test starts it in a subprocess):

    python tests/support/fake_data.py RUN_DIR [--epochs N]
"""
from __future__ import annotations

import hashlib
import sys
from typing import NamedTuple

import numpy as np

GENRES = tuple(f"genre{i}" for i in range(10))
WIDTHS = {"music": 8, "stft": 12}  # toy STFT width keeps the tests fast; the model takes any width


class FakeCache:
    """`.load(track_id, kind) -> float32 [T, F]`: seeded noise plus a genre-specific column offset.

    Track lengths vary (n_frames + 0, 8 or 16 frames) so tracks have different clip counts.
    """

    def __init__(self, labels: dict[str, int], *, n_frames: int, widths=WIDTHS, offset: float = 1.5):
        self.labels, self.n_frames, self.widths, self.offset = labels, n_frames, dict(widths), offset

    def entries(self) -> dict:
        """FeatureCache.entries(): no audio behind these maps, so no entry (train.audio_digest hashes the ids)."""
        return {}

    def load(self, track_id: str, kind: str, mmap: bool = True) -> np.ndarray:
        digest = hashlib.sha256(track_id.encode()).digest()
        n = self.n_frames + 8 * (digest[0] % 3)
        seed = int.from_bytes(hashlib.sha256(f"{track_id}/{kind}".encode()).digest()[:8], "little")
        x = np.random.default_rng(seed).standard_normal((n, self.widths[kind])).astype(np.float32)
        x[:, self.labels[track_id] % self.widths[kind]] += self.offset
        if kind == "stft":  # raw STFT magnitudes are non-negative and large
            x = np.abs(x) * 10.0
        return x


class ClipBatch(NamedTuple):
    x: dict
    y: np.ndarray
    track: np.ndarray


class FakeClipDataset:
    """ClipDataset protocol over FakeCache: clips of `clip_frames` frames every `hop` frames."""

    def __init__(self, cache, track_ids, labels, kinds=("music",), *, clip_frames: int = 16, hop: int = 8):
        self.cache, self.track_ids, self.labels, self.kinds = cache, list(track_ids), np.asarray(labels), tuple(kinds)
        self.clip_frames = clip_frames
        self.transform = None  # like ClipDataset's: f(dict kind -> [B, T, F]) -> dict, set by train_and_evaluate
        self.maps = [{k: cache.load(t, k) for k in self.kinds} for t in self.track_ids]
        self.index = [(i, s) for i, m in enumerate(self.maps)
                      for s in range(0, len(next(iter(m.values()))) - clip_frames + 1, hop)]

    @property
    def n_clips(self) -> int:
        return len(self.index)

    @property
    def n_tracks(self) -> int:
        return len(self.track_ids)

    def _clip(self, i: int, s: int, k: str) -> np.ndarray:
        return self.maps[i][k][s : s + self.clip_frames]

    def batches(self, batch_size: int, *, seed: int, epoch: int, shuffle: bool = True, crops: str = "grid"):
        if crops != "grid":
            raise NotImplementedError("FakeClipDataset has the grid of clips only")
        order = np.random.default_rng([seed, epoch]).permutation(self.n_clips) if shuffle else np.arange(self.n_clips)
        for a in range(0, self.n_clips, batch_size):
            idx = [self.index[j] for j in order[a : a + batch_size]]
            x = self._out({k: np.stack([self._clip(i, s, k) for i, s in idx]) for k in self.kinds})
            track = np.array([i for i, _ in idx], np.int32)
            yield ClipBatch(x, self.labels[track].astype(np.int32), track)

    def track_clips(self, i: int) -> dict:
        starts = [s for j, s in self.index if j == i]
        return self._out({k: np.stack([self._clip(i, s, k) for s in starts]) for k in self.kinds})

    def _out(self, x: dict) -> dict:
        return self.transform(x) if self.transform is not None else x


def make_fold_data(kinds=("music",), *, per_genre=(3, 1, 1), n_frames: int = 48, offset: float = 1.5,
                   widths=WIDTHS):
    """FoldData with per_genre = (train, valid, test) tracks of each of the 10 genres, maps of `widths`."""
    from mgc_jax.train.loop import FoldData

    ids, labels = {}, {}
    for name, n in zip(("train", "valid", "test"), per_genre):
        ids[name] = tuple(f"{g}.{name}{j}" for g in GENRES for j in range(n))
        labels[name] = np.array([GENRES.index(t.split(".")[0]) for t in ids[name]], np.int32)
    all_labels = {t: int(y) for name in ids for t, y in zip(ids[name], labels[name])}
    cache = FakeCache(all_labels, n_frames=n_frames, offset=offset, widths=widths)
    sets = {name: FakeClipDataset(cache, ids[name], labels[name], kinds) for name in ids}
    return FoldData(**sets, ids=ids, labels=labels, cache=cache, genres=GENRES)


def tiny_config(net: str = "music", **overrides):
    """A TrainConfig small enough to train in seconds on CPU, on the grid of clips without mixup (the clip
    datasets here have the grid only; tests of the regularisers set them), at a constant learning rate (so a run
    resumes to more epochs: a cosine schedule is fixed by its total)."""
    from mgc_jax.config import ModelConfig, TrainConfig

    kw = dict(net=net, fold=0, epochs=3, batch_size=8, eval_batch_size=16, crops="grid", mixup=0.0,
              lr_schedule="exponential",
              model=ModelConfig(k1=8, dense=(16, 12), conv_impl="conv", stft_bands=0))  # 12 toy bins: no mel bands
    kw.update(overrides)
    return TrainConfig(**kw)


def fake_corpus(root, genres=None, per_genre: int = 10):
    """An in-memory corpus (no audio): real feature widths, 192-208 frames (2-3 clips) per track."""
    from dsp.config import FeatureConfig
    from mgc_jax.data.corpus import Corpus
    from mgc_jax.data.gtzan import GENRES
    from mgc_jax.data.track import Track

    genres = tuple(GENRES if genres is None else genres)
    tracks = tuple(Track(f"{g}.{i:05d}", g, root / f"{g}.{i:05d}.wav") for g in genres for i in range(per_genre))
    cache = FakeCache({t.track_id: GENRES.index(t.genre) for t in tracks}, n_frames=192,
                      widths={"music": 8, "stft": 513}, offset=3.0)
    return Corpus("fakecorpus", root, tracks, cache, FeatureConfig())


def main(argv: list[str]) -> None:
    import json

    from mgc_jax.train.loop import train_and_evaluate

    run_dir = argv[1]
    epochs = int(argv[argv.index("--epochs") + 1]) if "--epochs" in argv else 3
    cfg = tiny_config(epochs=epochs)
    res = train_and_evaluate(cfg, run_dir, make_fold_data(cfg.kinds), in_bins=WIDTHS)
    print(json.dumps({"test_accuracy": res.test_accuracy, "best_epoch": res.best_epoch}))


if __name__ == "__main__":
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[2]))
    main(sys.argv)
