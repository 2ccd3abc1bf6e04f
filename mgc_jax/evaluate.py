"""Track decisions from clip probabilities (majority vote, FUSION1, FUSION2: the paper's §4.3) and the metrics of
Table 2 (accuracy, confusion, percentile bootstrap intervals); pure NumPy.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np

# Bootstrap replicates are drawn in chunks of this many, so B = 10,000 over 1,000 tracks never holds a
# 10^7 index matrix at once.
_BOOT_CHUNK = 1000


def _clip_probs(p, name: str = "clip_probs") -> np.ndarray:
    p = np.asarray(p, np.float64)
    if p.ndim != 2 or p.shape[0] == 0 or p.shape[1] == 0:
        raise ValueError(f"{name}: expected a non-empty [clips, classes] array, got shape {p.shape}")
    if not np.isfinite(p).all():
        raise ValueError(f"{name}: non-finite probabilities (pass only a track's first n_clips rows)")
    return p


def clip_votes(clip_probs) -> np.ndarray:
    """Votes per class: int64 [C], the count of clips whose argmax is each class.

    clip_probs: float [clips, C] per-clip class probabilities (or any scores).
    """
    p = _clip_probs(clip_probs)
    return np.bincount(p.argmax(axis=1), minlength=p.shape[1])


def majority_vote(clip_probs) -> int:
    """Track label from its clip probabilities float [clips, C]: the class most clips vote for.

    Tie rule (docs/features.md D15): among the classes with the most votes, the one with the largest mean
    probability over the clips; if that is tied too, the lowest class index.
    """
    p = _clip_probs(clip_probs)
    votes = np.bincount(p.argmax(axis=1), minlength=p.shape[1])
    tied = votes == votes.max()
    return int(np.argmax(np.where(tied, p.mean(axis=0), -np.inf)))  # np.argmax: first (lowest) of equals


def fusion1(p_a, p_b) -> int:
    """FUSION1: argmax of the mean of the clips_a + clips_b probability rows of two nets.

    p_a: float [clips_a, C], p_b: float [clips_b, C] (the same track through two nets; the clip counts
    may differ). An exact tie goes to the lowest class index.
    """
    a, b = _clip_probs(p_a, "p_a"), _clip_probs(p_b, "p_b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"fusion1: class counts differ ({a.shape[1]} vs {b.shape[1]})")
    return int(np.argmax(np.concatenate([a, b]).mean(axis=0)))


def fusion2(p_a, p_b) -> int:
    """FUSION2: mean of two nets clip by clip, argmax per clip, then `majority_vote` (same tie rule).

    p_a, p_b: float [clips, C], row i of both the same clip.
    """
    a, b = _clip_probs(p_a, "p_a"), _clip_probs(p_b, "p_b")
    if a.shape != b.shape:
        raise ValueError(f"fusion2 averages clip by clip: shapes differ ({a.shape} vs {b.shape})")
    return majority_vote((a + b) / 2)


def fusion2_track(p_a, p_b, q) -> int:
    """FUSION2 with a track-level system: clip-wise mean of p_a, p_b (float [clips, C], row i the same clip)
    and q (float [C], one track's probabilities, the same for every clip), argmax per clip, majority vote.

    Each source weighs a third: q sways a clip only where the nets' two voices are close.
    """
    a, b = _clip_probs(p_a, "p_a"), _clip_probs(p_b, "p_b")
    q = np.asarray(q, np.float64)
    if a.shape != b.shape or q.shape != (a.shape[1],):
        raise ValueError(f"fusion2_track: shapes {a.shape}, {b.shape} and {q.shape} do not fit [clips, C], [C]")
    if not np.isfinite(q).all():
        raise ValueError("fusion2_track: non-finite track probabilities")
    return majority_vote((a + b + q[None, :]) / 3)


RULES = ("vote", "fusion2", "fusion1")


def decide(net_probs, rule: str = "fusion2") -> int:
    """The track's class from one or two nets' clip probabilities (each float [n_clips, C]): the majority vote
    of one net; FUSION2 (default) or FUSION1 of two (the paper's §4.3)."""
    if len(net_probs) == 1:
        return majority_vote(net_probs[0])
    if len(net_probs) != 2:
        raise ValueError(f"decide takes one or two nets' probabilities, got {len(net_probs)}")
    if rule not in ("fusion2", "fusion1"):
        raise ValueError(f"rule={rule!r}: two nets fuse by 'fusion2' or 'fusion1'")
    return (fusion2 if rule == "fusion2" else fusion1)(net_probs[0], net_probs[1])


def accuracy(y_true, y_pred) -> float:
    """Fraction of equal entries of two int [N] label vectors (N >= 1)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape or y_true.ndim != 1 or y_true.size == 0:
        raise ValueError(f"accuracy: expected two equal non-empty [N] vectors, got {y_true.shape} and {y_pred.shape}")
    return float((y_true == y_pred).mean())


def confusion_matrix(y_true, y_pred, n_classes: int = 10) -> np.ndarray:
    """Counts int64 [n_classes, n_classes]: rows = true class, columns = predicted class (Table 1's layout)."""
    y_true, y_pred = np.asarray(y_true, np.int64), np.asarray(y_pred, np.int64)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise ValueError(f"confusion_matrix: expected two equal [N] vectors, got {y_true.shape} and {y_pred.shape}")
    bad = (y_true < 0) | (y_true >= n_classes) | (y_pred < 0) | (y_pred >= n_classes)
    if bad.any():
        raise ValueError(f"confusion_matrix: labels outside 0..{n_classes - 1}")
    return np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def row_percent(cm) -> np.ndarray:
    """Row-normalised confusion in % (float64 [C, C], rows sum to 100); a class never seen gives a NaN row."""
    cm = np.asarray(cm, np.float64)
    totals = cm.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, 100.0 * cm / totals, np.nan)


@dataclasses.dataclass(frozen=True)
class Bootstrap:
    """The percentile bootstrap of every interval we report: resamples, seed (fixed: tables are reproducible)
    and confidence level."""

    n_boot: int = 1000
    seed: int = 0
    level: float = 0.95

    def __post_init__(self):
        if isinstance(self.n_boot, bool) or not isinstance(self.n_boot, int) or self.n_boot < 1:
            raise ValueError(f"Bootstrap.n_boot={self.n_boot!r}: must be an int >= 1")
        if not 0.0 < self.level < 1.0:
            raise ValueError(f"Bootstrap.level={self.level!r}: must be in (0, 1)")


def bootstrap_ci(correct, boot: Bootstrap = Bootstrap()) -> tuple[float, float, float]:
    """Percentile bootstrap interval of a mean: (mean, lo, hi).

    correct: [N] bool (one decision per track: accuracy and its CI) or float (e.g. fold accuracies:
    the CI of their mean). Draws `n_boot` resamples of N values with replacement from
    `np.random.default_rng(seed)`; lo/hi are the (1 - level)/2 and (1 + level)/2 quantiles of the
    resampled means (NumPy's default linear interpolation). Same inputs and seed, same interval.
    """
    x = np.asarray(correct, np.float64)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"bootstrap_ci: expected a non-empty [N] vector, got shape {x.shape}")
    rng = np.random.default_rng(boot.seed)
    means = np.empty(boot.n_boot)
    for a in range(0, boot.n_boot, _BOOT_CHUNK):
        b = min(boot.n_boot, a + _BOOT_CHUNK)
        means[a:b] = x[rng.integers(0, x.size, size=(b - a, x.size))].mean(axis=1)
    lo, hi = np.quantile(means, [(1.0 - boot.level) / 2.0, (1.0 + boot.level) / 2.0])
    return float(x.mean()), float(lo), float(hi)


class Summary(NamedTuple):
    """Accuracy of one system over the folds it was tested on (fractions in [0, 1])."""

    pooled: float  # accuracy over every test track of every fold (1000 decisions on GTZAN)
    ci_lo: float  # percentile bootstrap interval of `pooled` over tracks
    ci_hi: float
    fold_accuracy: dict  # fold -> accuracy of that fold's test tracks
    fold_mean: float  # mean of the fold accuracies
    fold_std: float  # their standard deviation (ddof=1; 0 for a single fold)
    fold_ci_lo: float  # bootstrap interval of the fold mean (resampling folds)
    fold_ci_hi: float
    n_tracks: int

    @property
    def ci_half_width(self) -> float:
        """(hi - lo) / 2: the "±" of the paper's Table 2."""
        return (self.ci_hi - self.ci_lo) / 2.0


def fold_summary(correct_by_fold: Mapping[int, Sequence[bool]], boot: Bootstrap = Bootstrap()) -> Summary:
    """Pooled and per-fold accuracy of one system.

    correct_by_fold: fold -> bool [N_k], whether each test track of the fold was classified correctly.
    The pooled interval resamples all sum(N_k) tracks (docs/features.md §4.1); the fold-mean interval
    resamples the folds' accuracies (with the same seed).
    """
    if not correct_by_fold:
        raise ValueError("fold_summary: no folds")
    folds = sorted(correct_by_fold)
    per_fold = {k: float(np.mean(np.asarray(correct_by_fold[k], bool))) for k in folds}
    pooled = np.concatenate([np.asarray(correct_by_fold[k], bool) for k in folds])
    mean, lo, hi = bootstrap_ci(pooled, boot)
    accs = np.array([per_fold[k] for k in folds])
    _, flo, fhi = bootstrap_ci(accs, boot)
    std = float(accs.std(ddof=1)) if accs.size > 1 else 0.0
    return Summary(mean, lo, hi, per_fold, float(accs.mean()), std, flo, fhi, int(pooled.size))
