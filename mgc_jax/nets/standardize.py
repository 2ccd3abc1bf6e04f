"""Per-feature standardisation fitted on the training fold's frames (`--standardize`), stored with the
checkpoint so inference applies the same map.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping

import jax
import numpy as np

# A column whose std is below this (e.g. an all-zero feature on a tiny corpus) is only centred:
# dividing by ~0 would blow its rounding noise up to unit variance.
MIN_STD = 1e-8


@dataclasses.dataclass(frozen=True)
class Standardizer:
    """x[kind] -> (x[kind] - mean[kind]) / std[kind], per feature column.

    mean, std: kind -> float32 [F] (F = 513 for "stft", 8 for "music").
    """

    mean: Mapping[str, np.ndarray]
    std: Mapping[str, np.ndarray]

    @classmethod
    def fit(cls, cache, track_ids: Iterable[str], kinds: Iterable[str]) -> "Standardizer":
        """Mean and std over every frame of the given tracks (float64 accumulation).

        cache: anything with `.load(track_id, kind) -> float32 [T, F]` (mgc_jax.data.cache.FeatureCache).
        """
        track_ids = list(track_ids)
        if not track_ids:
            raise ValueError("Standardizer.fit needs at least one training track")
        mean, std = {}, {}
        for kind in kinds:
            n, s, ss = 0, 0.0, 0.0
            for tid in track_ids:
                x = np.asarray(cache.load(tid, kind), dtype=np.float64)
                n += x.shape[0]
                s = s + x.sum(axis=0)
                ss = ss + np.square(x).sum(axis=0)
            m = s / n
            var = np.maximum(ss / n - np.square(m), 0.0)  # clamp tiny negative rounding
            sd = np.sqrt(var)
            mean[kind] = m.astype(np.float32)
            std[kind] = np.where(sd < MIN_STD, 1.0, sd).astype(np.float32)
        return cls(mean, std)

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(self.mean)

    def __call__(self, x: Mapping[str, jax.Array]) -> dict[str, jax.Array]:
        """Standardise a dict of float32 [..., F] maps (NumPy or JAX). Kinds without stats pass through."""
        return apply_stats(x, self.to_tree())

    def to_tree(self) -> dict[str, dict[str, np.ndarray]]:
        """{kind: {"mean": [F], "std": [F]}} for checkpoints."""
        return {k: {"mean": np.asarray(self.mean[k]), "std": np.asarray(self.std[k])} for k in self.mean}

    @classmethod
    def from_tree(cls, tree: Mapping[str, Mapping[str, np.ndarray]]) -> "Standardizer":
        return cls({k: np.asarray(v["mean"], np.float32) for k, v in tree.items()},
                   {k: np.asarray(v["std"], np.float32) for k, v in tree.items()})

    @staticmethod
    def abstract_tree(widths: Mapping[str, int]) -> dict:
        """The ShapeDtypeStruct tree `to_tree` gives for feature widths {kind: F}."""
        leaf = lambda f: jax.ShapeDtypeStruct((f,), np.float32)  # noqa: E731
        return {k: {"mean": leaf(f), "std": leaf(f)} for k, f in widths.items()}


def apply_stats(x: Mapping[str, jax.Array], stats: Mapping | None) -> dict[str, jax.Array]:
    """`Standardizer.__call__` on its `to_tree()` form, so jitted code can take the stats as an argument.

    x: kind -> float32 [..., F]; stats: None (identity) or {kind: {"mean": [F], "std": [F]}}.
    """
    if stats is None:
        return dict(x)
    return {k: (v - stats[k]["mean"]) / stats[k]["std"] if k in stats else v for k, v in x.items()}
