"""Tonal centroid and Harmonic Change Detection Function, MIRToolbox `mirtonalcentroid` + `mirhcdf`.

docs/features.md §1.8 (decisions D4, D5). The tonal centroid is ζ = Φ · chroma (Harte, Sandler & Gasser 2006)
with the max-normalised MIRToolbox chromagram (Harte L1-normalises; MIRToolbox does not) and no smoothing.
HCDF[t] = ||ζ[t] − ζ[t−1]||₂ on the paper's 1024/512 frames (MIRToolbox's own default is .743 s / .1 hop),
a backward difference placed at frame t, with HCDF[0] = 0 so that there is one value per frame.

Public:
    TONAL_CENTROID_MATRIX: float32 [6, 12]
    tonal_centroid(chroma) -> float32 [..., 6]
    harmonic_change(chroma) -> float32 [..., T]
    hcdf(x, cfg) -> float32 [..., T]
    hcdf_from_spectrum(spectrum, frame_min, frame_max, cfg) -> float32 [..., T]
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from dsp.autodiff import safe_sqrt
from dsp.chroma import chromagram_from_spectrum, signal_chromagram
from dsp.config import FeatureConfig
from dsp.signal import as_signal, as_values

_L = np.arange(12)
TONAL_CENTROID_MATRIX = np.array([
    np.sin(_L * 7 * np.pi / 6), np.cos(_L * 7 * np.pi / 6),  # circle of fifths, radius 1
    np.sin(_L * 3 * np.pi / 2), np.cos(_L * 3 * np.pi / 2),  # circle of minor thirds, radius 1
    0.5 * np.sin(_L * 2 * np.pi / 3), 0.5 * np.cos(_L * 2 * np.pi / 3),  # circle of major thirds, radius 0.5
]).astype(np.float32)
"""float32 [6, 12] Φ of mirtonalcentroid (same rows, order and radii as librosa.feature.tonnetz); columns C..B."""


def tonal_centroid(chroma: jax.Array) -> jax.Array:
    """6-D tonal centroid ζ = Φ · chroma of each chroma vector, without normalisation or smoothing.

    Args:
        chroma: float [..., 12] pitch classes C..B (MIRToolbox: max-normalised chromagram).

    Returns:
        float32 [..., 6]: (sin, cos) of fifths, minor thirds, major thirds. One pitch class l at level 1 gives
        column l of `TONAL_CENTROID_MATRIX`. Equals librosa.feature.tonnetz(chroma=C) · ΣC (librosa L1-normalises).

    Supports jit, vmap and grad.

    Examples:
        >>> import numpy as np
        >>> c_only = np.eye(12, dtype=np.float32)[0]  # pitch class C alone
        >>> [round(float(v), 3) for v in tonal_centroid(c_only)]
        [0.0, 1.0, 0.0, 1.0, 0.0, 0.5]
    """
    return (as_values(chroma, name="tonal_centroid") @ jnp.asarray(TONAL_CENTROID_MATRIX).T).astype(jnp.float32)


def harmonic_change(chroma: jax.Array) -> jax.Array:
    """HCDF of a chromagram: ||ζ[t] − ζ[t−1]||₂ with ζ = `tonal_centroid(chroma)`, and 0 for the first frame.

    Args:
        chroma: float [..., T, 12] consecutive frames' chromas (e.g. `dsp.chroma.chromagram_from_spectrum` on the
            STFT that the other features share).

    Returns:
        float32 [..., T] >= 0; element 0 is 0 (decision D5; MIRToolbox's mirhcdf returns elements 1..T−1).

    Supports jit and vmap.
    """
    zeta = tonal_centroid(chroma)  # [..., T, 6]
    # Equal consecutive centroids (silence, a held chord) give distance 0, where sqrt's derivative is infinite.
    step = safe_sqrt(jnp.sum(jnp.square(zeta[..., 1:, :] - zeta[..., :-1, :]), axis=-1))
    first = jnp.zeros(step.shape[:-1] + (1,), step.dtype)
    return jnp.concatenate([first, step], axis=-1).astype(jnp.float32)


def hcdf(x: jax.Array, cfg: FeatureConfig) -> jax.Array:
    """Harmonic change per frame: Euclidean distance between consecutive tonal centroids (`mirhcdf`).

    Args:
        x: float [..., n] signal(s) at cfg.sample_rate, n >= cfg.frame_length.
        cfg: static FeatureConfig (frame_length, hop_length, sample_rate, chroma_scale).

    Returns:
        float32 [..., T] >= 0, T = `dsp.n_frames(n, cfg)`: HCDF[0] = 0 and HCDF[t] = ||ζ[t] − ζ[t−1]||₂, ζ the
        `tonal_centroid` of the `dsp.chroma.chromagram` of frame t (MIRToolbox's mirhcdf output is HCDF[1:]).
        Constant frames (silence, DC) have a zero chroma, hence ζ = 0.

    Raises:
        ConfigError: if n < cfg.frame_length; `dsp.SignalError` for input `dsp.as_signal` refuses.

    Scale-free (x 1e20 gives the same values). Under jit a non-finite sample reads as 0.
    Supports jit (cfg static), vmap over equal-length signals and grad; traces once per (shape, cfg).
    """
    return _hcdf(as_signal(x, name="hcdf"), cfg)


@functools.partial(jax.jit, static_argnames="cfg")
def _hcdf(x: jax.Array, cfg: FeatureConfig) -> jax.Array:
    chroma = signal_chromagram(x, cfg, frame_length=cfg.frame_length, hop_length=cfg.hop_length)  # [..., T, 12]
    return harmonic_change(chroma)


def hcdf_from_spectrum(
    spectrum: jax.Array, frame_min: jax.Array, frame_max: jax.Array, cfg: FeatureConfig
) -> jax.Array:
    """`hcdf` from the complex STFT of the raw frames, for callers that already computed it (the music features).

    Args:
        spectrum: complex [..., T, n_fft // 2 + 1] rfft(frame · hamming(L)) of the raw 1024/512 frames, n_fft =
            `dsp.chroma.chroma_plan(cfg.frame_length, ...).n_fft` (1024 = cfg.n_fft for the defaults).
        frame_min, frame_max: float [..., T] each raw frame's minimum and maximum sample.
        cfg: FeatureConfig (frame_length, sample_rate, chroma_scale).

    Returns:
        float32 [..., T], as `hcdf` of the signal the frames came from.

    Raises:
        ConfigError: if the spectrum's bin count does not match the chromagram's FFT size.

    Supports jit (cfg static) and vmap.
    """
    return harmonic_change(chromagram_from_spectrum(spectrum, frame_min, frame_max, cfg,
                                                    frame_length=cfg.frame_length))
