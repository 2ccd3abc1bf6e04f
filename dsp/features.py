"""The two feature maps of the paper: the [T, 8] MIRToolbox music map and the [T, 513] STFT map.

`music_features` assembles the eight frame-level features of FEATURES_SPEC.md §1.9 in the order of
`dsp.FEATURE_NAMES`; the STFT is computed once per track and shared by the spectral features and roughness.
Both maps are whole-track functions: roughness peak picking and the MinRMS trims normalise by track-global
maxima, so a clip cut from a track can differ from the same frames computed alone (FEATURES_SPEC §6.3).

Public:
    music_features(x, cfg) -> float32 [T, 8]
    music_features_with_nan_counts(x, cfg) -> (float32 [T, 8], int32 [8])
    stft_features(x, cfg) -> float32 [T, bins]
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from dsp import spectral
from dsp.config import FEATURE_NAMES, ConfigError, FeatureConfig, n_frames
from dsp.framing import frame, magnitude_spectrum, stft_magnitude
from dsp.key import key_clarity, key_clarity_frames
from dsp.roughness import roughness
from dsp.tonal import hcdf


@functools.partial(jax.jit, static_argnames="cfg")
def music_features_with_nan_counts(x: jax.Array, cfg: FeatureConfig) -> tuple[jax.Array, jax.Array]:
    """The eight MIRToolbox features of one track per frame, with the number of undefined values per feature.

    Args:
        x: float [n] one whole track at cfg.sample_rate, n >= cfg.frame_length.
        cfg: static FeatureConfig.

    Returns:
        (float32 [T, 8], int32 [8]) with T = `dsp.n_frames(n, cfg)`. Columns, in `FEATURE_NAMES` order:
        rms (signal units), zcr (Hz), brightness, flatness, entropy (in [0, 1]), roughness (|FFT|² units),
        key_clarity (in [-1, 1], per 6 s window, nearest window centre), hcdf (>= 0, first frame 0).
        Values MIRToolbox leaves undefined (MinRMS-trimmed frames of brightness / flatness / entropy, all-zero
        spectra, and any non-finite value) are 0 (decision D8); the int32 [8] counts them per column.

    Raises:
        ConfigError: if n < cfg.frame_length.

    Supports jit (cfg static) and vmap over a batch of equal-length tracks [B, n] (which equals the loop).
    Silence, DC and full-scale clipped input give finite maps.
    """
    x = jnp.asarray(x, jnp.float32)
    if x.ndim != 1:
        raise ConfigError(f"music_features takes one track [n], got shape {x.shape}; use jax.vmap for a batch")
    t = n_frames(int(x.shape[-1]), cfg)
    frames = frame(x, cfg)  # raises ConfigError when n < L
    spec = magnitude_spectrum(frames, n_fft=cfg.n_fft)  # [T, bins], shared by the spectral features and roughness
    fs = cfg.sample_rate

    trimmed = {
        "brightness": (
            spectral.brightness(spec, sample_rate=fs, n_fft=cfg.n_fft, cutoff_hz=cfg.brightness_cutoff_hz),
            cfg.min_rms_brightness,
        ),
        "flatness": (spectral.spectral_flatness(spec), cfg.min_rms_flatness),
        "entropy": (spectral.spectral_entropy(spec), cfg.min_rms_entropy),
    }
    raw = {
        "rms": spectral.rms(frames),
        "zcr": spectral.zero_crossing_rate(frames, sample_rate=fs),
        "roughness": roughness(spec, cfg),
        "key_clarity": key_clarity_frames(key_clarity(x, cfg), t, cfg),
        "hcdf": hcdf(x, cfg),
    }
    columns, counts = [], []
    for name in FEATURE_NAMES:
        if name in trimmed:
            values, count = spectral.min_rms_trim(trimmed[name][0], spec, threshold=trimmed[name][1])
        else:
            values, bad = spectral.finite_or_zero(raw[name])
            count = jnp.sum(bad, dtype=jnp.int32)
        columns.append(values.astype(jnp.float32))
        counts.append(count)
    return jnp.stack(columns, axis=-1), jnp.stack(counts)


@functools.partial(jax.jit, static_argnames="cfg")
def music_features(x: jax.Array, cfg: FeatureConfig) -> jax.Array:
    """The paper's music feature map of one track: float32 [T, 8], columns `FEATURE_NAMES`, undefined values 0.

    Same as `music_features_with_nan_counts(x, cfg)[0]`; see there for units and edge cases.

    Examples:
        >>> music_features(jnp.zeros(22050 * 7), FeatureConfig()).shape
        (300, 8)
    """
    return music_features_with_nan_counts(x, cfg)[0]


@functools.partial(jax.jit, static_argnames="cfg")
def stft_features(x: jax.Array, cfg: FeatureConfig) -> jax.Array:
    """The paper's STFT map of one track: float32 [T, cfg.n_bins] = `dsp.stft_magnitude(x, cfg)`.

    Linear, un-normalised |rfft| of symmetric Hamming frames (FEATURES_SPEC §0; no log compression).
    Supports jit (cfg static) and vmap.
    """
    return stft_magnitude(x, cfg)
