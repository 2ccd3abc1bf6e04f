"""Audio augmentations of the online training step (`TrainConfig.augment`): time shift, gain and white noise
at a random SNR, each drawn from a key so the same (seed, epoch, step, track) hears the same audio.
"""
from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp

from mgc_jax.config import AUGMENTS

GAIN_DB = 6.0  # random gain range, +- dB
SNR_DB = (20.0, 40.0)  # random signal-to-noise ratio range of the added white noise, dB


def random_gain(x: jax.Array, key: jax.Array) -> jax.Array:
    """x float [n] times a gain uniform in [-GAIN_DB, GAIN_DB] dB."""
    g = jax.random.uniform(key, (), minval=-GAIN_DB, maxval=GAIN_DB)
    return x * 10.0 ** (g / 20.0)


def random_noise(x: jax.Array, key: jax.Array) -> jax.Array:
    """x float [n] plus white Gaussian noise at an SNR uniform in SNR_DB (relative to mean(x²))."""
    k_snr, k_noise = jax.random.split(key)
    snr = jax.random.uniform(k_snr, (), minval=SNR_DB[0], maxval=SNR_DB[1])
    sigma = jnp.sqrt(jnp.mean(jnp.square(x)) / 10.0 ** (snr / 10.0))
    return x + sigma * jax.random.normal(k_noise, x.shape, x.dtype)


def random_shift(x: jax.Array, key: jax.Array) -> jax.Array:
    """x float [n] rolled by a uniform integer in [0, n)."""
    k = jax.random.randint(key, (), 0, x.shape[0])
    return jnp.roll(x, k)


_FUNCTIONS = {"gain": random_gain, "noise": random_noise, "shift": random_shift}
ORDER = ("shift", "gain", "noise")  # application order (see the module docstring)
assert set(_FUNCTIONS) == set(AUGMENTS) == set(ORDER), "mgc_jax.config.AUGMENTS and augment.py disagree"


def augment(x: jax.Array, key: jax.Array, names: Sequence[str]) -> jax.Array:
    """x float32 [n] with the augmentations `names` (a subset of AUGMENTS) applied in ORDER; same shape.

    Each augmentation draws from its own key (fold_in of `key` with its position in AUGMENTS), so adding one
    to `names` leaves the draws of the others unchanged.
    """
    unknown = set(names) - set(_FUNCTIONS)
    if unknown:
        raise ValueError(f"unknown augmentations {sorted(unknown)}; expected some of {AUGMENTS}")
    for name in ORDER:
        if name in names:
            x = _FUNCTIONS[name](x, jax.random.fold_in(key, AUGMENTS.index(name)))
    return x
