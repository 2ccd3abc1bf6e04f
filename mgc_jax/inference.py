"""Classify any audio with trained nets: `Classifier.from_checkpoint(run_dir[, run_dir2]).predict(path_or_array)`.

The one home of inference: restoring a run (`load_trained` -> `Trained`), the crop rule shared with the
feature cache (`crop_length`), feature maps and clips of a whole file, and the decision (`decide`).

The pipeline is the training one, applied to a whole file:

    audio.load (any rate / channel count -> 22,050 Hz mono float32)
    -> crop to the end of the last full key-clarity window (as the feature cache does)
    -> dsp.music_features / dsp.stft_features over the whole file (whole-track normalisations)
    -> 128-frame clips every 64 frames (every window that fits, or `max_clips`)
    -> each net's clip probabilities (the checkpoint's standardisation applied inside `Trained.predict`)
    -> majority vote; with two nets FUSION2 (default) or FUSION1 (FEATURES_SPEC §3.4)

The feature config and the standardiser travel with the checkpoint (the run's config.json and its orbax
state), so a file is always analysed the way the net's training tracks were. A file shorter than one clip
(1024 + 127 x 512 = 66,048 samples, 2.995 s at 22,050 Hz) raises an `AudioError` that says so.

    >>> clf = Classifier.from_checkpoint("workspace/runs/gtzan/stratified/stft/fold0",
    ...                                  "workspace/runs/gtzan/stratified/music/fold0")
    >>> p = clf.predict("song.mp3")
    >>> p.genre, p.top, p.votes
"""
from __future__ import annotations

import functools
import os
import pathlib
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from mgc_jax import evaluate, rundir
from mgc_jax.clips import CLIP_FRAMES, CLIP_HOP, clip_starts
from mgc_jax.config import TrainConfig
from mgc_jax.errors import AudioError, DataError

FUSIONS = ("fusion2", "fusion1")
TOP_K = 3


class Prediction(NamedTuple):
    """The decision for one file.

    genre / label: the decided genre (name / index).
    probs: float32 [C] mean clip probability (two nets: over both nets' clips, FUSION1's average).
    top: the TOP_K (genre, probability) pairs of `probs`, largest first.
    votes: genre -> number of clips whose argmax it is (two nets: of the clip-wise fused probabilities),
      largest first, genres without a vote left out.
    clip_probs: float32 [n_clips, C] per-clip probabilities the votes are taken from.
    rule: "vote" (one net), "fusion2" or "fusion1".
    """

    genre: str
    label: int
    probs: np.ndarray
    top: tuple
    votes: dict
    clip_probs: np.ndarray
    n_clips: int
    duration_s: float
    rule: str

    def to_dict(self) -> dict:
        """JSON-able summary (no per-clip arrays)."""
        return {"genre": self.genre, "top": [[g, round(float(p), 6)] for g, p in self.top],
                "votes": dict(self.votes), "n_clips": self.n_clips, "duration_s": round(self.duration_s, 3),
                "rule": self.rule}


def crop_length(n_samples: int, cfg) -> int:
    """Samples of an n-sample track that are analysed: the end of its last full key-clarity window.

    = key_window_length + (W - 1) * key_hop_length with W = dsp.n_key_windows(n, cfg); n itself when
    the track is no longer than one key window. (30 s at 22,050 Hz: 661,500 samples, T = 1290 frames.)
    The feature cache crops by the same rule (`mgc_jax.extraction`), so a file's maps equal its cached ones.
    """
    if n_samples <= cfg.key_window_length:
        return n_samples
    w = 1 + (n_samples - cfg.key_window_length) // cfg.key_hop_length  # dsp.n_key_windows for n > Lk
    return cfg.key_window_length + (w - 1) * cfg.key_hop_length


class Trained(NamedTuple):
    """A restored run for inference: eval-mode model, its configs and standardizer (None if raw units)."""

    model: Any  # flax nnx.Module (GenreCNN or EarlyFusionCNN)
    train_cfg: TrainConfig
    feature_cfg: Any  # dsp.FeatureConfig, or None for runs made without one
    standardizer: Any  # mgc_jax.standardize.Standardizer | None
    epoch: int  # the checkpoint's epoch (the best one by default)
    run_dir: pathlib.Path

    @property
    def kinds(self) -> tuple[str, ...]:
        return self.train_cfg.kinds

    def predict(self, x: Mapping[str, np.ndarray]) -> np.ndarray:
        """Clip probabilities float32 [B, C] for x: kind -> float32 [B, T, F] (raw units; standardised here).

        Runs the same compiled program as the training run's test pass (batches of eval_batch_size).
        """
        from mgc_jax.steps import predict_clips

        stats = None if self.standardizer is None else self.standardizer.to_tree()
        return predict_clips(self.model, {k: x[k] for k in self.kinds}, stats=stats,
                             batch_size=self.train_cfg.eval_batch_size)


def load_trained(run_dir: str | os.PathLike, *, step: int | None = None) -> Trained:
    """Restore a run's best checkpoint (or `step`) against an abstract state; the model is in eval mode.

    Raises CheckpointError naming the directory when config.json or the checkpoint is missing or damaged.
    """
    import jax
    from flax import nnx

    from mgc_jax.checkpoint import CheckpointError
    from mgc_jax.models import build_model
    from mgc_jax.standardize import Standardizer
    from mgc_jax.train import abstract_state_tree, open_checkpoints

    run_dir = pathlib.Path(run_dir)
    try:
        config = rundir.read_config(run_dir)
        cfg = TrainConfig.from_dict(config["train"])
        # ConfigError is a ValueError: a damaged "features" entry is reported with the run's name too.
        from dsp.config import FeatureConfig

        feature_cfg = FeatureConfig.from_dict(config["features"]) if "features" in config else None
        in_bins = config["in_bins"]
    except (DataError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise CheckpointError(f"{run_dir}: not a training run directory ({rundir.CONFIG}: {e!r})") from e
    with open_checkpoints(run_dir, config, keep_last=cfg.keep_last) as ckpts:
        step = ckpts.best_step() if step is None else step
        if step is None:
            raise CheckpointError(f"{run_dir / rundir.CHECKPOINTS}: no finished checkpoint")
        tree = ckpts.restore(step, abstract_state_tree(cfg, in_bins))
    abstract_model = nnx.eval_shape(lambda: build_model(cfg.net, cfg.model, rngs=nnx.Rngs(0), in_bins=in_bins))
    graphdef, params = nnx.split(abstract_model)
    nnx.replace_by_pure_dict(params, tree["model"])
    model = nnx.merge(graphdef, params)
    model.eval()
    std = Standardizer.from_tree(jax.device_get(tree["standardizer"])) if "standardizer" in tree else None
    return Trained(model, cfg, feature_cfg, std, int(tree["epoch"]), run_dir)


def min_samples(cfg) -> int:
    """Samples in one clip: frame_length + (CLIP_FRAMES - 1) * hop_length (66,048 = 2.995 s at 22,050 Hz)."""
    return cfg.frame_length + (CLIP_FRAMES - 1) * cfg.hop_length


@functools.lru_cache(maxsize=8)
def _extractor(cfg, kinds: tuple[str, ...]):
    """One jitted function per (config, kinds) computing the maps a classifier needs (shared framing/FFT)."""
    import jax

    import dsp

    fns = {"music": dsp.music_features, "stft": dsp.stft_features}

    def maps(x):
        return {k: fns[k](x, cfg) for k in kinds}

    return jax.jit(maps)


def feature_maps(x: np.ndarray, cfg, kinds: Sequence[str]) -> dict[str, np.ndarray]:
    """kind -> float32 [T, F] of one whole signal x float32 [n] at cfg.sample_rate, cropped like the cache.

    Crops to `crop_length` (the end of the last full key-clarity window) so the maps equal what the feature
    cache holds for the same audio. A new signal length compiles once.
    """
    x = np.asarray(x, np.float32)
    x = x[: crop_length(x.size, cfg)]
    return {k: np.asarray(v) for k, v in _extractor(cfg, tuple(sorted(kinds)))(x).items()}


def cut_clips(maps: Mapping[str, np.ndarray], *, max_clips: int | None = None) -> dict[str, np.ndarray]:
    """kind -> float32 [n_clips, 128, F]: windows of 128 frames every 64 (`mgc_jax.clips.clip_starts`)."""
    n_frames = {k: v.shape[0] for k, v in maps.items()}
    if len(set(n_frames.values())) != 1:
        raise ValueError(f"feature maps of different lengths: {n_frames}")
    starts = clip_starts(next(iter(n_frames.values())), CLIP_FRAMES, CLIP_HOP, max_clips=max_clips)
    idx = starts[:, None] + np.arange(CLIP_FRAMES)[None, :]  # [n_clips, 128]
    return {k: np.ascontiguousarray(v[idx], np.float32) for k, v in maps.items()}


def decide(clip_probs: Sequence[np.ndarray], genres: Sequence[str], *, fusion: str = "fusion2",
           duration_s: float = float("nan")) -> Prediction:
    """A Prediction from one or two nets' clip probabilities float [n_clips, C] (`mgc_jax.evaluate` rules)."""
    if len(clip_probs) == 1:
        p, rule = np.asarray(clip_probs[0], np.float32), "vote"
        label = evaluate.majority_vote(p)
    elif len(clip_probs) == 2:
        a, b = (np.asarray(q, np.float32) for q in clip_probs)
        p, rule = (a + b) / 2, fusion
        label = evaluate.fusion2(a, b) if fusion == "fusion2" else evaluate.fusion1(a, b)
    else:
        raise ValueError(f"decide takes one or two nets' probabilities, got {len(clip_probs)}")
    mean = p.mean(axis=0)
    order = np.argsort(-mean, kind="stable")[:TOP_K]
    counts = evaluate.clip_votes(p)
    votes = {genres[i]: int(counts[i]) for i in np.argsort(-counts, kind="stable") if counts[i] > 0}
    return Prediction(genres[label], label, mean, tuple((genres[i], float(mean[i])) for i in order), votes, p,
                      int(p.shape[0]), float(duration_s), rule)


class Classifier:
    """One trained net (majority vote) or two (late fusion) applied to whole audio files.

    Args:
      trained: one or two `Trained` (from `load_trained`), with the same feature config.
      genres: class names (default: the runs' test_probs.npz genres, else GTZAN's).
      fusion: "fusion2" (default, the paper's best) or "fusion1", used with two nets.
      max_clips: clips per file at most (None: every 128-frame window, hop 64, of the whole file; 18 gives a
        30 s file exactly the training clips).
    """

    def __init__(self, trained: Sequence, *, genres: Sequence[str] | None = None, fusion: str = "fusion2",
                 max_clips: int | None = None):
        trained = tuple(trained)
        if len(trained) not in (1, 2):
            raise ValueError(f"a Classifier takes one or two trained nets, got {len(trained)}")
        if fusion not in FUSIONS:
            raise ValueError(f"fusion={fusion!r}: expected one of {FUSIONS}")
        cfgs = {t.feature_cfg for t in trained}
        if len(cfgs) != 1:
            raise DataError(f"{trained[0].run_dir} and {trained[1].run_dir} were trained on different feature "
                            "configs: their clips cannot be fused")
        cfg = cfgs.pop()
        if cfg is None:  # a run made without a corpus (tests): the paper's features
            from dsp import FeatureConfig

            cfg = FeatureConfig()
        self.trained, self.feature_cfg, self.fusion, self.max_clips = trained, cfg, fusion, max_clips
        self.genres = tuple(genres) if genres is not None else _run_genres(trained)
        n_classes = {t.train_cfg.model.num_classes for t in trained}
        if n_classes != {len(self.genres)}:
            raise DataError(f"{len(self.genres)} genres but the nets have {sorted(n_classes)} classes")

    @classmethod
    def from_checkpoint(cls, run_dir: str | os.PathLike, run_dir2: str | os.PathLike | None = None, *,
                        fusion: str = "fusion2", max_clips: int | None = None) -> "Classifier":
        """Restore the best checkpoint of one run directory (or two, to fuse them); CheckpointError if unusable."""
        dirs = [run_dir] + ([run_dir2] if run_dir2 is not None else [])
        return cls([load_trained(d) for d in dirs], fusion=fusion, max_clips=max_clips)

    @property
    def nets(self) -> tuple[str, ...]:
        return tuple(t.train_cfg.net for t in self.trained)

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(sorted({k for t in self.trained for k in t.kinds}))

    def load(self, path_or_array, *, sample_rate: int | None = None) -> tuple[np.ndarray, str]:
        """float32 [n] mono at the feature rate, and a name for messages (the path, or "<array>").

        An array is float [n] or [n, channels] at `sample_rate` (default: the feature rate).
        """
        from mgc_jax import audio

        rate = self.feature_cfg.sample_rate
        if isinstance(path_or_array, (str, os.PathLike)):
            if sample_rate is not None:
                raise ValueError("sample_rate is for arrays; files carry their own")
            return audio.load(path_or_array, rate), os.fspath(path_or_array)
        x = np.asarray(path_or_array, np.float64)
        if x.ndim == 2:
            x = x.mean(axis=1)  # channels last, as soundfile reads them
        if x.ndim != 1:
            raise ValueError(f"expected audio samples [n] or [n, channels], got shape {x.shape}")
        audio.check_samples(x, "<array>")  # NaN, Inf or beyond ±1e6: the same refusal as for a file
        if sample_rate is not None and sample_rate != rate:
            import soxr

            x = soxr.resample(x, sample_rate, rate, quality="VHQ")
        return x.astype(np.float32), "<array>"

    def clip_probs(self, x: np.ndarray, *, name: str = "<array>") -> list[np.ndarray]:
        """Each net's clip probabilities float32 [n_clips, C] for a signal at the feature rate."""
        need = min_samples(self.feature_cfg)
        rate = self.feature_cfg.sample_rate
        if x.size < need:
            raise AudioError(name, f"too short to classify: {x.size / rate:.2f} s, one clip needs "
                                   f"{CLIP_FRAMES} frames = {need} samples ({need / rate:.3f} s at {rate} Hz)")
        clips = cut_clips(feature_maps(x, self.feature_cfg, self.kinds), max_clips=self.max_clips)
        return [t.predict({k: clips[k] for k in t.kinds}) for t in self.trained]

    def predict(self, path_or_array, *, sample_rate: int | None = None) -> Prediction:
        """Genre of an audio file (any format libsndfile reads, any rate, any channels) or a sample array.

        Raises AudioError (naming the file) for unreadable audio or audio shorter than one clip.
        """
        x, name = self.load(path_or_array, sample_rate=sample_rate)
        probs = self.clip_probs(x, name=name)
        return decide(probs, self.genres, fusion=self.fusion, duration_s=x.size / self.feature_cfg.sample_rate)

    def saliency(self, path_or_array, *, sample_rate: int | None = None):
        """`mgc_jax.saliency.Saliency` of the decided class (as `predict` decides it): d(mean clip
        log-probability)/d(waveform) float32 [n] for the signal as `load` gives it, plus a gradient x input
        attribution per map column (net_MUSIC: per feature, net_STFT: per frequency bin). Raises AudioError
        as `predict` does."""
        from mgc_jax.saliency import waveform_saliency

        x, name = self.load(path_or_array, sample_rate=sample_rate)
        label = decide(self.clip_probs(x, name=name), self.genres, fusion=self.fusion).label
        return waveform_saliency(self.trained, self.feature_cfg, x, self.genres, label=label,
                                 max_clips=self.max_clips)


def _run_genres(trained) -> tuple[str, ...]:
    """The genre names saved with the runs' test probabilities (GTZAN's when a run has none)."""
    from mgc_jax.datasets.gtzan import GENRES

    found = {rundir.read_genres(t.run_dir) or tuple(GENRES) for t in trained}
    if len(found) != 1:
        raise DataError(f"the runs were trained on different genre lists: {sorted(found)}")
    return found.pop()
