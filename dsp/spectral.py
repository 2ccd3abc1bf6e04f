"""Frame and spectral features: MIRToolbox `mirrms`, `mirzerocross`, `mirbrightness`, `mirflatness`, `mirentropy`.

Definitions: docs/features.md §1.1-§1.5 (MIRToolbox 1.6.2 defaults). Every kernel reduces the trailing
axis (`[..., L] -> [...]` for frames, `[..., bins] -> [...]` for magnitude spectra), so it works on one frame,
a [T, ...] track or a batch alike; all are float32, finite on finite input (silence included), and support
jit, vmap and grad. `min_rms_trim` is the 'MinRMS' post-step of brightness, flatness and entropy.

Public:
    rms(frames) -> [...]
    zero_crossing_rate(frames, *, sample_rate) -> [...]
    brightness(spec, *, sample_rate, n_fft, cutoff_hz) -> [...]
    spectral_flatness(spec) -> [...]
    spectral_entropy(spec) -> [...]
    min_rms_trim(values, spec, *, threshold) -> (values, nan_count)
    min_rms_undefined(values, spec, *, threshold, reference) -> bool [..., T]   the frames min_rms_trim drops
    spectral_level(spec) -> [..., T]   the spectral RMS MinRMS compares
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from dsp.autodiff import safe_sqrt
from dsp.config import ConfigError
from dsp.signal import as_signal, as_values, peak_scale

LOG_FLOOR = 1e-20  # floor inside the log of the geometric mean, relative to the frame's largest bin (docs/features.md §1.4)
ENTROPY_EPS = 1e-12  # MIRToolbox mirentropy's own epsilon, both in the normalisation and inside the log


def safe_divide(num: jax.Array, den: jax.Array) -> jax.Array:
    """num / den, and 0 where den == 0 (also keeps the gradient finite there)."""
    nonzero = den != 0
    return jnp.where(nonzero, num / jnp.where(nonzero, den, 1), 0)


def rms(frames: jax.Array) -> jax.Array:
    """Root mean square of each raw frame, MIRToolbox `mirrms`: sqrt(Σ x² / L).

    Args:
        frames: float32 [..., L] un-windowed frames (`dsp.frame`).

    Returns:
        float32 [...] >= 0, in the signal's units (full-scale sine: 1/√2). Computed on each frame divided by the
        power of two at its peak and scaled back (exact), so x² never overflows or underflows (x 1e20 works).

    Examples:
        >>> round(float(rms(jnp.array([3.0, -4.0, 0.0, 0.0]))), 4)
        2.5
    """
    frames = as_signal(frames, name="rms")
    s = peak_scale(frames, axis=-1)
    # A silent frame: safe_sqrt's gradient is 0 there, not NaN.
    return safe_sqrt(jnp.mean(jnp.square(frames / s), axis=-1)) * s[..., 0]


def zero_crossing_rate(frames: jax.Array, *, sample_rate: float) -> jax.Array:
    """Zero crossings per second in one direction, MIRToolbox `mirzerocross` ('Per' 'Second', 'Dir' 'One').

    count = #{n in 1..L-1 : x[n] x[n-1] < 0} (strict: exact zeros never count; the step from the previous
    frame is not counted); rate = count / L · fs / 2.

    Args:
        frames: float32 [..., L] un-windowed frames.
        sample_rate: fs in Hz (keyword-only).

    Returns:
        float32 [...] in Hz, in [0, (L - 1) / L · fs / 2]; a sine of frequency f gives ≈ f.

    Examples:
        >>> float(zero_crossing_rate(jnp.array([1.0, -1.0, 0.0, -1.0]), sample_rate=8.0))
        1.0
    """
    frames = as_signal(frames, name="zero_crossing_rate")
    a, b = frames[..., 1:], frames[..., :-1]
    # Opposite strict signs, the product rule without forming the product (which underflows for tiny samples).
    crossing = ((a > 0) & (b < 0)) | ((a < 0) & (b > 0))
    # Counted in float32: exact below 2^24 per frame, and XLA's CPU float reduction is ~2x its int32 one.
    count = jnp.sum(crossing.astype(jnp.float32), axis=-1)
    return count * jnp.float32(sample_rate / (2.0 * frames.shape[-1]))


def brightness(spec: jax.Array, *, sample_rate: float, n_fft: int, cutoff_hz: float) -> jax.Array:
    """Share of spectral magnitude above a cut-off, MIRToolbox `mirbrightness` (before its MinRMS trim).

    .. math:: b = \\sum_{k: f_k > f_c} X_k \\Big/ \\sum_k X_k, \\quad f_k = k f_s / n_{fft}

    on magnitudes (not power) with a strict ">" on the bin frequency.

    Args:
        spec: float32 [..., bins] magnitude spectra, bins k = 0..bins-1.
        sample_rate, n_fft: give the bin frequencies (keyword-only).
        cutoff_hz: f_c (1500 Hz in MIRToolbox; docs/features.md D1).

    Returns:
        float32 [...] in [0, 1]; 0 for an all-zero spectrum (MIRToolbox: 0/0 = NaN, trimmed anyway).
    """
    spec = as_values(spec, name="brightness")
    first = _first_bin_above(cutoff_hz, sample_rate=sample_rate, n_fft=n_fft, bins=spec.shape[-1])
    high = jnp.sum(spec[..., first:], axis=-1)
    total = jnp.sum(spec, axis=-1)
    return safe_divide(high, total)  # an all-zero frame has no defined brightness: 0, not NaN


def _first_bin_above(cutoff_hz: float, *, sample_rate: float, n_fft: int, bins: int) -> int:
    """Index of the first bin whose frequency k fs / n_fft is strictly above the cut-off (bins if none).

    Decided in float64 on the host, so the high band is a static slice rather than a traced mask.
    """
    freqs = np.arange(bins, dtype=np.float64) * sample_rate / n_fft
    above = np.flatnonzero(freqs > cutoff_hz)
    return int(above[0]) if above.size else bins


def spectral_flatness(spec: jax.Array) -> jax.Array:
    """Geometric over arithmetic mean of the magnitudes, MIRToolbox `mirflatness` (linear, before MinRMS).

    .. math:: \\exp\\Big(\\frac{1}{K} \\sum_k \\ln \\max(X_k, 10^{-20} \\max_j X_j)\\Big) \\Big/ \\frac{1}{K} \\sum_k X_k

    Args:
        spec: float32 [..., K] magnitude spectra (all bins, 513 for the defaults).

    Returns:
        float32 [...] in [0, 1]: 1 for a flat spectrum, ≈ 0 for a single peak; 0 for an all-zero spectrum
        (MIRToolbox's rule "±Inf -> 0": the floored geometric mean over a zero mean).

    Matches `librosa.feature.spectral_flatness(S=X, power=1.0, amin=1e-20)` and essentia `Flatness` wherever
    no bin lies below both floors (any frame without exact-zero bins that is louder than ~1e-18).
    """
    spec = as_values(spec, name="spectral_flatness")
    # Both means are taken of X / max X, so the ratio is scale-free in float32 too, and the logs are of values
    # <= 1 (mean(log X) of loud frames rounded to flatness > 1 on flat spectra). The floor keeps the log finite on
    # exact zeros (digital silence); relative to the peak it lifts nothing else (float32 FFT rounding leaves bins
    # ~1e-7 of the peak), where a fixed 1e-20 gave flatness > 1 below ~1e-18 (tests/test_dsp_properties.py).
    peak = jnp.max(spec, axis=-1, keepdims=True)
    rel = spec / jnp.where(peak > 0, peak, 1)
    geo = jnp.exp(jnp.mean(jnp.log(jnp.maximum(rel, LOG_FLOOR)), axis=-1))
    return safe_divide(geo, jnp.mean(rel, axis=-1))  # zero mean: MIRToolbox maps the resulting Inf to 0


def spectral_entropy(spec: jax.Array) -> jax.Array:
    """Normalised Shannon entropy of the magnitude distribution, MIRToolbox `mirentropy` (before MinRMS).

    .. math:: p_k = \\frac{X_k}{\\sum_j X_j + 10^{-12}}, \\quad
              H = -\\frac{1}{\\ln K} \\sum_k p_k \\ln(p_k + 10^{-12})

    Args:
        spec: float32 [..., K] non-negative magnitude spectra.

    Returns:
        float32 [...] in [0, 1]: 1 for a flat spectrum, 0 for a single bin and for an all-zero spectrum.

    Equals essentia `Entropy()(p) · ln 2 / ln K` (essentia works in bits).
    """
    spec = as_values(spec, name="spectral_entropy")
    k = spec.shape[-1]
    if k < 2:
        raise ConfigError(f"spectral entropy needs >= 2 bins, got {k}")
    # MIRToolbox's epsilons: a zero spectrum gives p = 0 and H = 0, a zero bin contributes 0.
    p = jnp.maximum(spec, 0) / (jnp.sum(spec, axis=-1, keepdims=True) + ENTROPY_EPS)
    return -jnp.sum(p * jnp.log(p + ENTROPY_EPS), axis=-1) * jnp.float32(1.0 / math.log(k))


def spectral_level(spec: jax.Array) -> jax.Array:
    """Spectral RMS sqrt(Σ_k X_k²) of each frame: float32 [..., T] from [..., T, bins] (MinRMS's level, without
    MIRToolbox's constant factor). Overflows above |X| ~ 1e18: callers scale first (`min_rms_undefined`)."""
    return safe_sqrt(jnp.sum(jnp.square(spec), axis=-1))


def min_rms_trim(values: jax.Array, spec: jax.Array, *, threshold: float) -> tuple[jax.Array, jax.Array]:
    """MIRToolbox's 'MinRMS' post-step: drop frames too quiet for a spectral shape feature to mean anything.

    A frame is *undefined* when its spectral RMS sqrt(Σ_k X_k²) is below `threshold` × the largest one of the
    track (MIRToolbox sets it to NaN), when its spectrum is all zero (MIRToolbox's 0/0 for brightness and
    flatness; a silent track, whose maximum is 0, falls here), or when the value itself is not finite.
    Undefined frames get 0 (docs/features.md §1.9, decision D8) and are counted.

    Args:
        values: float32 [..., T] one feature per frame of one whole track (leading axes are more tracks).
        spec: float32 [..., T, bins] the magnitude spectrogram it was computed from.
        threshold: fraction of the track's maximum spectral RMS (.005 brightness and entropy, .01 flatness).

    Returns:
        (float32 [..., T] values with undefined frames set to 0, int32 [...] number of undefined frames).

    The maximum is track-global (per leading index), so a clip cut from a track can be trimmed differently
    from the same frames of the whole track.
    """
    values = jnp.asarray(values, jnp.float32)
    undefined = min_rms_undefined(values, spec, threshold=threshold)
    return jnp.where(undefined, 0, values), jnp.sum(undefined, axis=-1, dtype=jnp.int32)


def min_rms_undefined(values: jax.Array, spec: jax.Array, *, threshold: float, reference=None) -> jax.Array:
    """bool [..., T]: the frames `min_rms_trim` sets to 0 (quiet, all-zero spectrum or non-finite value).

    reference: None, or float32 [2] (largest magnitude, largest `spectral_level`) of the whole track when `spec`
    [T, bins] is a block of it (`dsp.features.TrackContext`): the block's frames are then trimmed as in the track.
    """
    spec = as_values(spec, name="min_rms_trim")
    if spec.shape[:-1] != jnp.shape(values):
        raise ConfigError(f"values {jnp.shape(values)} do not match spectrogram frames {spec.shape[:-1]}")
    # Levels relative to the track's largest magnitude: only their ratios matter, and X² cannot overflow.
    scale = peak_scale(spec, axis=(-2, -1)) if reference is None else peak_scale(reference[:1])
    level = spectral_level(spec / scale)  # [..., T]; MIRToolbox's constant factor cancels
    if reference is None:
        loudest = jnp.max(level, axis=-1, keepdims=True)
    else:  # scaling by a power of two commutes with the squares, the sum and the root: exact
        loudest = reference[1:] / scale[0]
    quiet = (level < threshold * loudest) | (level == 0)
    return quiet | ~jnp.isfinite(jnp.asarray(values, jnp.float32))
