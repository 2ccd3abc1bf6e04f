"""The non-neural baseline beside the nets: per-track mean and standard deviation of MFCCs (from the cached STFT
map) and of the eight music features -> standardisation -> RBF SVM (scikit-learn), fitted on each fold's
training tracks and written as a run of its own (test_probs.npz with one row per track).
"""
from __future__ import annotations

import dataclasses
import os
import pathlib
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from mgc_jax.data.gtzan import GENRES
from mgc_jax.data.mel import mel_filterbank
from mgc_jax.train import rundir

N_MELS = 40
N_MFCC = 20
MEL_AMIN = 1e-10  # floor of the mel power before the log: silent frames give log(1e-10), not -inf
C_GRID = (1.0,)  # one point: fixed (module docstring); more points select on the validation tracks
GAMMA_GRID = ("scale",)  # "scale" = 1 / (n_features * var(X)) = 1/56 on standardised statistics


@dataclasses.dataclass(frozen=True)
class BaselineConfig:
    """The baseline's hyper-parameters (defaults: module docstring)."""

    n_mels: int = N_MELS
    n_mfcc: int = N_MFCC
    c_grid: tuple[float, ...] = C_GRID
    gamma_grid: tuple = GAMMA_GRID

    def __post_init__(self):
        object.__setattr__(self, "c_grid", tuple(self.c_grid))
        object.__setattr__(self, "gamma_grid", tuple(self.gamma_grid))
        if not 1 <= self.n_mfcc <= self.n_mels:
            raise ValueError(f"BaselineConfig.n_mfcc={self.n_mfcc}: must be in 1..n_mels ({self.n_mels})")
        if not self.c_grid or not self.gamma_grid:
            raise ValueError("BaselineConfig: c_grid and gamma_grid need at least one value each")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


class BaselineResult(NamedTuple):
    run_dir: pathlib.Path | None
    test_accuracy: float  # test tracks, argmax of the probabilities
    valid_accuracy: float  # of the chosen (C, gamma), fitted on the training tracks
    C: float
    gamma: float | str
    n_test: int
    track_ids: tuple[str, ...]  # test tracks
    labels: np.ndarray  # int32 [N]
    probs: np.ndarray  # float32 [N, C] class probabilities of the test tracks
    test_probs_path: pathlib.Path | None


# --------------------------------------------------------------------------------------------- MFCC


def dct_matrix(n_in: int, n_out: int) -> np.ndarray:
    """float64 [n_in, n_out]: orthonormal DCT-II (scipy.fft.dct(norm="ortho")), first n_out coefficients."""
    n = np.arange(n_in)[:, None]
    k = np.arange(n_out)[None, :]
    m = np.cos(np.pi * k * (2 * n + 1) / (2 * n_in)) * np.sqrt(2.0 / n_in)
    m[:, 0] /= np.sqrt(2.0)
    return m


def mfcc(stft: np.ndarray, *, sample_rate: float, n_mels: int = N_MELS, n_mfcc: int = N_MFCC) -> np.ndarray:
    """MFCCs float64 [T, n_mfcc] of a magnitude map stft [T, bins] (the cache's linear |rfft|)."""
    stft = np.asarray(stft, np.float64)
    mel = np.square(stft) @ mel_filterbank(stft.shape[1], sample_rate, n_mels)
    return np.log(np.maximum(mel, MEL_AMIN)) @ dct_matrix(n_mels, n_mfcc)


def track_statistics(stft: np.ndarray, music: np.ndarray, *, sample_rate: float,
                     cfg: BaselineConfig = BaselineConfig()) -> np.ndarray:
    """float64 [2 (n_mfcc + 8)]: mean then std over frames of [MFCC | music features] of one track.

    stft: float32 [T, bins] magnitude; music: float32 [T, 8] (same T).
    """
    if stft.shape[0] != music.shape[0]:
        raise ValueError(f"stft has {stft.shape[0]} frames, music {music.shape[0]}: maps of one track must match")
    cols = np.concatenate([mfcc(stft, sample_rate=sample_rate, n_mels=cfg.n_mels, n_mfcc=cfg.n_mfcc),
                           np.asarray(music, np.float64)], axis=1)
    return np.concatenate([cols.mean(axis=0), cols.std(axis=0)])


def corpus_statistics(cache, track_ids: Sequence[str], *, sample_rate: float,
                      cfg: BaselineConfig = BaselineConfig()) -> np.ndarray:
    """float64 [N, 2 (n_mfcc + 8)]: `track_statistics` of each track, read from `cache` (`.load(id, kind)`)."""
    # mmap=False: float32 also from a float16 cache (one track at a time in memory)
    return np.stack([track_statistics(cache.load(t, "stft", mmap=False), cache.load(t, "music", mmap=False),
                                      sample_rate=sample_rate, cfg=cfg)
                     for t in track_ids])


# ----------------------------------------------------------------------------------------- the SVM


def _svm(C: float, gamma):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    return make_pipeline(StandardScaler(), SVC(kernel="rbf", C=C, gamma=gamma, decision_function_shape="ovr"))


def class_probabilities(model, x: np.ndarray, n_classes: int) -> np.ndarray:
    """float32 [N, n_classes]: softmax of the fitted pipeline's one-vs-rest decision function (module
    docstring), zero for classes absent from training."""
    d = np.asarray(model.decision_function(x), np.float64)
    if d.ndim == 1:  # two classes: one signed margin for classes_[1]
        d = np.stack([-d, d], axis=1) / 2
    e = np.exp(d - d.max(axis=1, keepdims=True))
    out = np.zeros((len(x), n_classes), np.float32)
    out[:, model.classes_] = e / e.sum(axis=1, keepdims=True)
    return out


def fit_select(x_train: np.ndarray, y_train: np.ndarray, x_valid: np.ndarray, y_valid: np.ndarray,
               n_classes: int, cfg: BaselineConfig = BaselineConfig()):
    """Fit one SVM per (C, gamma) on the training rows; keep the best validation accuracy (first on ties).

    x_*: float [N, D] statistics; y_*: int [N]. Returns (model, C, gamma, valid_accuracy).
    """
    best = None
    for C in cfg.c_grid:
        for gamma in cfg.gamma_grid:
            model = _svm(C, gamma).fit(x_train, y_train)
            acc = float((class_probabilities(model, x_valid, n_classes).argmax(1) == y_valid).mean())
            if best is None or acc > best[3]:
                best = (model, C, gamma, acc)
    return best


def fit_and_evaluate(corpus, split, *, run_dir: str | os.PathLike | None = None,
                     cfg: BaselineConfig = BaselineConfig(), classes: Sequence[str] | None = None) -> BaselineResult:
    """Train on split.train, choose C/gamma on split.valid, classify split.test; write the run files if run_dir.

    corpus: an `mgc_jax.data.corpus.Corpus` (tracks with `track_id`, `genre`; `cache`; `cfg.sample_rate`).
    split: train / valid / test track ids (`mgc_jax.data.folds.Split`).
    classes: class names, label = position (default GTZAN's GENRES, as the nets use).
    run_dir files: config.json, test_probs.npz (net-run layout, one clip per track), result.json.
    """
    classes = tuple(GENRES if classes is None else classes)
    genre_of = {t.track_id: t.genre for t in corpus.tracks}
    ids = {k: tuple(getattr(split, k)) for k in ("train", "valid", "test")}
    for name, part in ids.items():
        if not part:
            raise ValueError(f"baseline: the {name} split has no tracks")
        unknown = sorted({genre_of[t] for t in part} - set(classes))
        if unknown:
            raise ValueError(f"baseline: classes {unknown} of the {name} tracks are not among {classes}")
    y = {k: np.array([classes.index(genre_of[t]) for t in v], np.int32) for k, v in ids.items()}
    sr = corpus.cfg.sample_rate
    x = {k: corpus_statistics(corpus.cache, v, sample_rate=sr, cfg=cfg) for k, v in ids.items()}
    model, C, gamma, valid_acc = fit_select(x["train"], y["train"], x["valid"], y["valid"], len(classes), cfg)
    probs = class_probabilities(model, x["test"], len(classes))
    test_acc = float((probs.argmax(1) == y["test"]).mean())
    probs_path = None
    if run_dir is not None:
        run_dir = pathlib.Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)

        rundir.write_config(run_dir, {"baseline": cfg.to_dict(), "corpus": corpus.name, "classes": classes,
                                             "split": {k: list(v) for k, v in ids.items()}})
        probs_path = run_dir / "test_probs.npz"
        # The net-run layout (`mgc_jax.train.rundir`) with one "clip" per track: probs [N, 1, C], n_clips ones.
        rundir.write_test_probs(probs_path, ids["test"], y["test"], [p[None, :] for p in probs], classes)
        rundir.write_result(run_dir, {"test_track_acc": test_acc, "valid_track_acc": valid_acc,
                                             "C": C, "gamma": gamma, "n_test": len(ids["test"])})
    return BaselineResult(run_dir, test_acc, valid_acc, C, gamma, len(ids["test"]), ids["test"], y["test"], probs,
                          probs_path)


def run(corpus, workdir, *, split: str = "stratified", fold: int = 0,
        cfg: BaselineConfig = BaselineConfig()) -> BaselineResult:
    """The baseline on fold `fold` of `split` (the nets' split file, `folds.get_split`), in
    `workdir.run_dir(corpus.name, split, "baseline", fold)`."""
    s = corpus.split(workdir, split, fold)
    return fit_and_evaluate(corpus, s, run_dir=workdir.run_dir(corpus.name, split, "baseline", fold), cfg=cfg,
                            classes=corpus.classes)
