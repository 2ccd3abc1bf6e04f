"""Element-wise compression of the STFT map before the net sees it (`TrainConfig.stft_transform`: none, log1p,
db), applied to the raw cached map before standardisation, in training, evaluation and inference alike.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from mgc_jax.config import STFT_TRANSFORMS

DB_AMIN = 1e-5  # magnitude floor of "db": -100 dB, below the quietest non-silent GTZAN bins; silence -> -100


def transform_stft(x, name: str):
    """One of STFT_TRANSFORMS on a float32 [..., bins] magnitude map: float32, same shape.

    NumPy arrays give NumPy arrays (the cached path); JAX arrays and tracers give JAX arrays, so the online
    path (`mgc_jax.train.online`) applies the same transform inside the compiled step.
    """
    if name == "none":
        return x
    xp = np if isinstance(x, np.ndarray) or np.isscalar(x) else _jnp()
    x = xp.asarray(x, xp.float32)
    if name == "log1p":
        return xp.log1p(xp.maximum(x, 0.0))  # magnitudes are >= 0; the clamp only guards rounding below 0
    if name == "db":
        return (20.0 * xp.log10(xp.maximum(x, DB_AMIN))).astype(xp.float32)
    raise ValueError(f"stft_transform={name!r}: expected one of {STFT_TRANSFORMS}")


def _jnp():
    import jax.numpy as jnp  # only when given JAX arrays: this module stays importable without starting JAX

    return jnp


def map_transform(name: str) -> Callable[[Mapping[str, np.ndarray]], dict] | None:
    """`f(x: kind -> [..., F]) -> dict` applying `transform_stft` to the "stft" entry; None for "none".

    Suitable as `mgc_jax.data.clips.ClipDataset(transform=...)`.
    """
    if name not in STFT_TRANSFORMS:
        raise ValueError(f"stft_transform={name!r}: expected one of {STFT_TRANSFORMS}")
    if name == "none":
        return None

    def apply(x: Mapping[str, np.ndarray]) -> dict:
        return {k: transform_stft(v, name) if k == "stft" else v for k, v in x.items()}

    return apply


class TransformedCache:
    """A feature cache whose `load` returns transformed maps (to fit the standardizer on what the net sees)."""

    def __init__(self, cache, name: str):
        self.cache, self.name = cache, name
        self._f = map_transform(name)

    def load(self, track_id: str, kind: str, **kw) -> np.ndarray:
        x = self.cache.load(track_id, kind, **kw)
        return x if self._f is None else self._f({kind: x})[kind]
