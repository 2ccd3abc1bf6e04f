"""Classify any audio with trained nets: restore a run (`load_trained` -> `Trained`) and apply it to whole files
or arrays (`Classifier`), the way its training tracks were analysed (the run's feature config and
standardiser travel with its checkpoint); one net's clips are majority-voted, two nets fused (FUSION2 by
default). Usage::

    clf = Classifier.from_checkpoint("workspace/runs/gtzan/stratified/stft/fold0",
                                     "workspace/runs/gtzan/stratified/music/fold0")
    p = clf.predict("song.mp3")
    p.genre, p.top, p.votes
"""
from __future__ import annotations

import os
import pathlib
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import jax.numpy as jnp
import numpy as np
from absl import logging

import mgc_jax.config
from dsp import FeatureConfig, n_frames
from mgc_jax import evaluate
from mgc_jax.config import TrainConfig
from mgc_jax.data import audio
from mgc_jax.data.clips import CLIP_FRAMES, clip_starts
from mgc_jax.data.maps import crop_length, min_samples, track_clips
from mgc_jax.errors import AudioError, DataError
from mgc_jax.nets.input_transform import map_transform
from mgc_jax.serve.saliency import waveform_saliency
from mgc_jax.train import rundir
from mgc_jax.train.checkpoint import (
    CheckpointError,
    abstract_state_tree,
    model_from_tree,
    open_checkpoints,
    sample_rate_of,
)
from mgc_jax.train.steps import predict_clips

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
    warnings: the file's content warnings (`mgc_jax.data.audio.Decoded.warnings`: silent, antiphase stereo,
      band-limited, float beyond +-1), empty for ordinary music and for arrays.
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
    warnings: tuple = ()

    def to_dict(self) -> dict:
        """JSON-able summary (no per-clip arrays)."""
        return {"genre": self.genre, "top": [[g, round(float(p), 6)] for g, p in self.top],
                "votes": dict(self.votes), "n_clips": self.n_clips, "duration_s": round(self.duration_s, 3),
                "rule": self.rule, "warnings": list(self.warnings)}


class Trained(NamedTuple):
    """A restored run for inference: eval-mode model, its configs and standardizer (None if raw units)."""

    model: Any  # flax nnx.Module (GenreCNN or EarlyFusionCNN)
    train_cfg: TrainConfig
    feature_cfg: Any  # dsp.FeatureConfig, or None for runs made without one
    standardizer: Any  # mgc_jax.nets.standardize.Standardizer | None
    epoch: int  # the checkpoint's epoch (the best one by default)
    run_dir: pathlib.Path

    @property
    def kinds(self) -> tuple[str, ...]:
        return self.train_cfg.kinds

    def predict(self, x: Mapping[str, np.ndarray]) -> np.ndarray:
        """Clip probabilities float32 [B, C] for x: kind -> float32 [B, T, F] (raw units; the run's STFT
        transform and standardisation are applied here).

        Runs the same compiled program as the training run's test pass (batches of eval_batch_size).
        """
        stats = None if self.standardizer is None else self.standardizer.to_tree()
        x = {k: x[k] for k in self.kinds}
        transform = map_transform(self.train_cfg.stft_transform)
        return predict_clips(self.model, x if transform is None else transform(x), stats=stats,
                             batch_size=self.train_cfg.eval_batch_size)


def load_trained(run_dir: str | os.PathLike, *, step: int | None = None) -> Trained:
    """Restore a run's best checkpoint (or `step`) against an abstract state; the model is in eval mode.

    The best epoch of a finished run is the one its result.json names (the one its test accuracy is of); when
    that checkpoint was deleted the error says so and what to do, instead of silently using another epoch.
    Raises CheckpointError naming the directory when config.json, result.json or the checkpoint is missing or
    damaged, or `step` is not a kept epoch.
    """
    run_dir = _run_dir_of(pathlib.Path(run_dir))
    if not (run_dir / rundir.CONFIG).is_file():
        what = "no such directory" if not run_dir.exists() else f"no {rundir.CONFIG}"
        raise CheckpointError(f"{run_dir}: not a training run directory ({what}; give the run directory "
                              "launch.train printed)")
    try:
        config = rundir.read_config(run_dir)
    except DataError as e:  # names the file, the damage and what to do already
        raise CheckpointError(str(e)) from e
    # Predictions compute maps with today's dsp code: say so when the run was trained on another's.
    if config.get("dsp_code") not in (None, mgc_jax.config.dsp_code_hash()):
        logging.warning("%s was trained on maps of dsp code %s; the dsp code is now %s: its predictions are of maps it "
                        "was not trained on (train it again to serve the current code)", run_dir, config["dsp_code"],
                        mgc_jax.config.dsp_code_hash())
    if "baseline" in config and "train" not in config:
        raise CheckpointError(f"{run_dir}: a run of the MFCC+SVM baseline, not of a net: it has no checkpoint to "
                              "serve (give a net's run directory: stft, music or early)")
    try:
        cfg = rundir.train_config(config)
        # ConfigError is a ValueError: a damaged "features" entry is reported with the run's name too.

        feature_cfg = FeatureConfig.from_dict(config["features"]) if "features" in config else None
        in_bins = config["in_bins"]
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise CheckpointError(f"{run_dir}: not a training run directory ({rundir.CONFIG}: {e!r})") from e
    with open_checkpoints(run_dir, config, keep_last=cfg.keep_last) as ckpts:
        kept = ckpts.steps()
        where = run_dir / rundir.CHECKPOINTS
        if step is None:  # the epoch the run tested with (TrainConfig.select)
            step = _tested_epoch(run_dir, ckpts, cfg.select)
        elif step not in kept:
            raise CheckpointError(f"{where}: no checkpoint of epoch {step} (kept: {', '.join(map(str, kept))})")
        if step is None:
            raise CheckpointError(f"{where}: no finished checkpoint")
        rate = sample_rate_of(config)
        tree = ckpts.restore(step, abstract_state_tree(cfg, in_bins, rate))
    model, std = model_from_tree(cfg, in_bins, tree, rate)
    return Trained(model, cfg, feature_cfg, std, int(tree["epoch"]), run_dir)


def _run_dir_of(path: pathlib.Path) -> pathlib.Path:
    """The run directory `path` names: itself, or the run holding it when it is the run's checkpoints folder
    (the path launch.train prints as "checkpoints:", so it is what users pass)."""
    if not (path / rundir.CONFIG).exists() and path.name == rundir.CHECKPOINTS and (path.parent / rundir.CONFIG).exists():
        return path.parent
    return path


def _tested_epoch(run_dir: pathlib.Path, ckpts, select: str) -> int | None:
    """The epoch a run tests and serves: result.json's `best_epoch` for a finished run (its checkpoint must be
    kept: a deleted one is an error, never a silent switch to another epoch), else, for a run still training,
    the best kept checkpoint so far (select="best_valid") or the latest (select="last")."""
    if not (run_dir / rundir.RESULT).exists():
        return ckpts.best_step() if select == "best_valid" else ckpts.latest_step()
    kept = ckpts.steps()
    try:
        best = rundir.read_result(run_dir).get("best_epoch")
    except DataError as e:  # names the file, the damage and what to do already
        raise CheckpointError(str(e)) from e
    if best is None:
        raise CheckpointError(f"{run_dir / rundir.RESULT}: no best_epoch: not the result of a net's training run")
    if best not in kept:
        raise CheckpointError(
            f"{run_dir / rundir.CHECKPOINTS}: the checkpoint of the best epoch {best} ({rundir.RESULT}) is missing "
            f"(kept: {', '.join(map(str, kept)) or 'none'}); restore it, or run launch.train again with the same "
            "flags to pick a kept epoch (rewrites result.json), or load one with load_trained(step=K)")
    return best


def decide(clip_probs: Sequence[np.ndarray], genres: Sequence[str], *, fusion: str = "fusion2",
           duration_s: float = float("nan")) -> Prediction:
    """A Prediction from one or two nets' clip probabilities float [n_clips, C] (`mgc_jax.evaluate` rules)."""
    probs = [np.asarray(q, np.float32) for q in clip_probs]
    label = evaluate.decide(probs, fusion)
    p, rule = (probs[0], "vote") if len(probs) == 1 else ((probs[0] + probs[1]) / 2, fusion)
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
      genres: class names (default: the runs' own, `rundir.run_classes`).
      fusion: "fusion2" (default, the paper's best) or "fusion1", used with two nets.
      max_clips: clips per file at most, evenly spread over the whole file (`clip_starts`; None: every
        128-frame window, hop 64; 18 gives a 30 s file the paper's grid).
    """

    def __init__(self, trained: Sequence, *, genres: Sequence[str] | None = None, fusion: str = "fusion2",
                 max_clips: int | None = None):
        trained = tuple(trained)
        if len(trained) not in (1, 2):
            raise ValueError(f"a Classifier takes one or two trained nets, got {len(trained)}")
        if fusion not in FUSIONS:
            raise ValueError(f"fusion={fusion!r}: expected one of {FUSIONS}")
        if len(trained) == 2:
            _check_fusable(*trained)
        cfgs = {t.feature_cfg for t in trained}
        if len(cfgs) != 1:
            raise DataError(f"{trained[0].run_dir} and {trained[1].run_dir} were trained on different feature "
                            "configs: their clips cannot be fused")
        cfg = cfgs.pop()
        if cfg is None:  # a run made without a corpus (tests): the paper's features

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

        An array goes through `mgc_jax.data.audio.from_array` at `sample_rate` (default: the feature rate): [n],
        [n, channels] or [channels, n], float or integer PCM (int16 scaled by 2^-15 as soundfile reads a
        16-bit file, so it predicts like that file), bool/complex refused, the same sample checks as a file.
        """
        x, name, _ = self._decode(path_or_array, sample_rate)
        return x, name

    def _decode(self, path_or_array, sample_rate: int | None) -> tuple[np.ndarray, str, tuple[str, ...]]:
        """`load`, plus the file's content warnings (none for arrays)."""
        rate = self.feature_cfg.sample_rate
        if isinstance(path_or_array, (bytes, bytearray, memoryview)):
            raise TypeError("bytes are not read: give a file's path as str or os.PathLike (os.fsdecode(b) for a "
                            "bytes path), or its samples as an array")
        if hasattr(path_or_array, "read"):
            raise TypeError(f"file objects are not read ({type(path_or_array).__name__}): give the file's path, or "
                            "its samples as an array")
        if isinstance(path_or_array, (str, os.PathLike)):
            if sample_rate is not None:
                raise ValueError("sample_rate is for arrays; files carry their own")
            decoded = audio.decode(path_or_array, rate)
            return decoded.samples, os.fspath(path_or_array), decoded.warnings
        rate_in = rate if sample_rate is None else sample_rate
        path_or_array = _plain_floats(path_or_array)
        return audio.from_array(path_or_array, sample_rate=rate_in, rate=rate, name="<array>"), "<array>", ()

    def clip_probs(self, x: np.ndarray, *, name: str = "<array>") -> list[np.ndarray]:
        """Each net's clip probabilities float32 [n_clips, C] for a signal at the feature rate."""
        need = min_samples(self.feature_cfg)
        rate = self.feature_cfg.sample_rate
        if x.size < need:  # samples, not rounded seconds: 66,047 and 66,048 samples are both "2.995 s"
            raise AudioError(name, f"too short to classify: {x.size} samples ({x.size / rate:.3f} s) at {rate} Hz, "
                                   f"one clip needs {CLIP_FRAMES} frames = {need} samples ({need / rate:.3f} s)")
        cfg = self.feature_cfg
        starts = clip_starts(n_frames(crop_length(x.size, cfg), cfg), max_clips=self.max_clips)
        probs: list[list[np.ndarray]] = [[] for _ in self.trained]
        for clips in track_clips(x, cfg, self.kinds, starts):  # a long file: a block of clips at a time
            for p, t in zip(probs, self.trained):
                p.append(t.predict({k: clips[k] for k in t.kinds}))
        return [np.concatenate(p) for p in probs]

    def predict(self, path_or_array, *, sample_rate: int | None = None) -> Prediction:
        """Genre of an audio file (any format `mgc_jax.data.audio` decodes, any rate, any channels) or an array.

        Raises AudioError (naming the file) for unreadable audio or audio shorter than one clip.
        """
        x, name, warnings = self._decode(path_or_array, sample_rate)
        probs = self.clip_probs(x, name=name)
        return decide(probs, self.genres, fusion=self.fusion,
                      duration_s=x.size / self.feature_cfg.sample_rate)._replace(warnings=warnings)

    def saliency(self, path_or_array, *, sample_rate: int | None = None):
        """`mgc_jax.serve.saliency.Saliency` of the decided class (as `predict` decides it): d(mean clip
        log-probability)/d(waveform) float32 [n] for the signal as `load` gives it, plus a gradient x input
        attribution per map column (net_MUSIC: per feature, net_STFT: per frequency bin). Raises AudioError
        as `predict` does."""
        x, name = self.load(path_or_array, sample_rate=sample_rate)
        label = decide(self.clip_probs(x, name=name), self.genres, fusion=self.fusion).label
        return waveform_saliency(self.trained, self.feature_cfg, x, self.genres, label=label,
                                 max_clips=self.max_clips)


def _plain_floats(x):
    """An array of an extension float type (bfloat16, float8: ml_dtypes, NumPy kind "V") as float32, as dsp takes
    it (`dsp.as_signal`); anything else as it is (`audio.from_array` checks it)."""
    dtype = getattr(x, "dtype", None)
    if dtype is not None and np.dtype(dtype).kind == "V" and jnp.issubdtype(dtype, jnp.floating):
        return np.asarray(x, np.float32)
    return x


def _check_fusable(a: Trained, b: Trained) -> None:
    """Late fusion combines two different nets (the paper's net_STFT and net_MUSIC): the same run twice, or two
    runs of one net, would be reported as FUSION2 of two nets while it is one net's view."""
    if pathlib.Path(a.run_dir).resolve() == pathlib.Path(b.run_dir).resolve():
        raise DataError(f"{a.run_dir} given twice: fusion needs two runs of different nets (e.g. stft and music)")
    if a.train_cfg.net == b.train_cfg.net:
        raise DataError(f"{a.run_dir} and {b.run_dir} are both {a.train_cfg.net} runs: fusion needs two runs of "
                        "different nets (e.g. stft and music)")


def _run_genres(trained) -> tuple[str, ...]:
    """The runs' class names (`rundir.run_classes`: config.json, else test probabilities, else GTZAN's)."""
    found = {rundir.run_classes(t.run_dir) for t in trained}
    if len(found) != 1:
        raise DataError(f"the runs were trained on different class lists: {sorted(found)}")
    return found.pop()
