"""Framing and magnitude spectrum, as MIRToolbox `mirframe` + `mirspectrum` (docs/features.md §0).

Frame t covers samples [t H, t H + L) of the signal: no centre padding, T = 1 + (n - L) // H
(`dsp.n_frames`). The spectrum is |rfft(frame · w, n_fft)| with w the *symmetric* Hamming window
(MATLAB `window(@hamming, L)`), un-normalised (neither by n_fft nor by the window sum).

Public:
    hamming_window(length) -> float32 [L]
    frame(x, cfg) -> float32 [..., T, L]
    magnitude_spectrum(frames, *, n_fft) -> float32 [..., T, n_fft // 2 + 1]
    stft_magnitude(x, cfg) -> float32 [..., T, bins]
"""
from __future__ import annotations

import functools
import operator

import jax
import jax.numpy as jnp
import numpy as np

from dsp.config import ConfigError, FeatureConfig, n_frames
from dsp.signal import as_signal, finite_samples


@functools.lru_cache(maxsize=8)
def _hamming_np(length: int) -> np.ndarray:
    # Computed in float64 and rounded once, so every caller sees the same float32 taps.
    k = np.arange(length, dtype=np.float64)
    return (0.54 - 0.46 * np.cos(2.0 * np.pi * k / (length - 1))).astype(np.float32)


def hamming_window(length: int) -> jax.Array:
    """Symmetric Hamming window w[k] = 0.54 - 0.46 cos(2πk / (L - 1)), k = 0..L-1.

    Args:
        length: L >= 2, a Python int (it is a shape).

    Returns:
        float32 [L]; w[0] = w[L-1] = 0.08, symmetric (equals `scipy.signal.windows.hamming(L, sym=True)`).

    Examples:
        >>> [round(float(v), 2) for v in hamming_window(3)]
        [0.08, 1.0, 0.08]
    """
    length = _static_int(length, "window length")
    if length < 2:
        raise ConfigError(f"window length {length}: a symmetric Hamming window needs >= 2 taps")
    return jnp.asarray(_hamming_np(length))


def frame(x: jax.Array, cfg: FeatureConfig) -> jax.Array:
    """Cut a signal into overlapping frames, MIRToolbox `mirframe` without padding.

    Args:
        x: float [..., n] signal(s); leading axes are kept (e.g. a batch of equal-length tracks).
        cfg: FeatureConfig: frame_length L and hop_length H.

    Returns:
        float32 [..., T, L] with T = `dsp.n_frames(n, cfg)` = 1 + (n - L) // H; frame t = x[..., tH : tH + L].
        The trailing n - (T - 1) H - L samples that do not fill a frame are dropped.

    Raises:
        ConfigError: if n < L (no complete frame).

    When H divides L (the paper's 1024 / 512) the frames are L / H shifted views of one [blocks, H] reshape,
    stacked: no gather (XLA fuses it into the consumer; a gather was ~2x slower on CPU). Otherwise a gather
    with a static [T, L] index table. Supports jit and vmap.
    """
    x = as_signal(x, name="frame")
    n = x.shape[-1]
    length, hop = cfg.frame_length, cfg.hop_length
    t = n_frames(int(n), cfg)
    if t == 0:
        raise ConfigError(f"signal of {n} samples is shorter than one frame of {length} samples (hop {hop})")
    if length % hop == 0:
        per = length // hop  # hop-sized blocks per frame
        blocks = x[..., : (t + per - 1) * hop].reshape(*x.shape[:-1], t + per - 1, hop)
        shifted = jnp.stack([blocks[..., j : j + t, :] for j in range(per)], axis=-2)  # [..., T, per, H]
        return shifted.reshape(*x.shape[:-1], t, length)
    index = np.arange(t)[:, None] * hop + np.arange(length)[None, :]  # static: built with NumPy, not traced
    return x[..., index]


def magnitude_spectrum(frames: jax.Array, *, n_fft: int) -> jax.Array:
    """|rfft(frame · hamming, n_fft)| of each frame, MIRToolbox `mirspectrum` defaults.

    Args:
        frames: float32 [..., L] raw (un-windowed) frames; L <= n_fft (zero-padded to n_fft).
        n_fft: FFT size (Python int).

    Returns:
        float32 [..., n_fft // 2 + 1] magnitudes of bins k = 0..n_fft/2 (frequency k fs / n_fft), not normalised.

    Supports jit, vmap and grad (away from zero bins).
    """
    return jnp.abs(windowed_rfft(as_signal(frames, name="magnitude_spectrum"), n_fft=n_fft)).astype(jnp.float32)


def windowed_rfft(frames: jax.Array, *, n_fft: int) -> jax.Array:
    """rfft(frame · hamming, n_fft) of each frame: the complex spectrum behind `magnitude_spectrum`.

    Args:
        frames: float32 [..., L] raw (un-windowed) frames; L <= n_fft (zero-padded to n_fft).
        n_fft: FFT size (Python int).

    Returns:
        complex64 [..., n_fft // 2 + 1]. The music map shares it between the magnitude features and the HCDF
        chromagram (`dsp.tonal.hcdf_from_spectrum`), which needs the phase.

    Supports jit, vmap and grad.
    """
    frames = as_signal(frames, name="windowed_rfft")
    length = frames.shape[-1]
    if length > n_fft:
        raise ConfigError(f"frame of {length} samples is longer than n_fft={n_fft}")
    windowed = frames * hamming_window(length)
    return jnp.fft.rfft(windowed, n=n_fft, axis=-1)


def stft_magnitude(x: jax.Array, cfg: FeatureConfig) -> jax.Array:
    """Magnitude STFT of a signal: the paper's net_STFT input and the spectrum behind the spectral features.

    Args:
        x: float [..., n] signal(s), n >= cfg.frame_length.
        cfg: static FeatureConfig (frame_length, hop_length, n_fft).

    Returns:
        float32 [..., T, cfg.n_bins] (T = `dsp.n_frames(n, cfg)`, 513 bins for the defaults): |rfft| of symmetric
        Hamming-windowed frames, un-normalised (a full-scale 1 kHz sine peaks near 0.54 · L / 2 ≈ 276).

    Raises:
        ConfigError: if n < cfg.frame_length; `dsp.SignalError` for input `dsp.as_signal` refuses.

    Supports jit (cfg static), vmap and grad. Under jit a non-finite sample reads as 0 (`dsp.as_signal`).

    Examples:
        >>> stft_magnitude(jnp.zeros(22050), FeatureConfig()).shape
        (42, 513)
    """
    return _stft_magnitude(as_signal(x, name="stft_magnitude"), cfg)


@functools.partial(jax.jit, static_argnames="cfg")
def _stft_magnitude(x: jax.Array, cfg: FeatureConfig) -> jax.Array:
    return magnitude_spectrum(frame(finite_samples(x)[0], cfg), n_fft=cfg.n_fft)


def _static_int(value, what: str) -> int:
    try:
        return operator.index(value)  # ints and NumPy ints; a tracer or a float raises TypeError
    except TypeError as e:
        raise ConfigError(f"{what} must be a static Python int, got {type(value).__name__}") from e
