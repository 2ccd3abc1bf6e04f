"""MIRToolbox chromagram of raw frames (`mirchromagram` with the options `mirkeystrength` uses).

docs/features.md §1.7 (6 s key windows) and §1.8 (1024-sample HCDF frames). Per frame of Lw samples:

1. 'NormalInput': rescale the frame to [0, 1] as (x − min) / (max − min).
2. Symmetric Hamming window, zero-padded FFT of n_fft = 2^ceil(log2 Lw) points (1024 for 1024-sample
   frames, 262144 for 6 s windows).
3. Band: 'Min' 100 Hz and 'Max' 5000 Hz raised to a whole number of octaves (6400 Hz). 'OctaveRatio' .85:
   when Lw < fs / (Min · 0.85 (2^(1/12) − 1)) (4363 samples at 22050 Hz), Min is raised to
   fs / (Lw · 0.85 (2^(1/12) − 1)) (426.0 Hz for Lw = 1024). The band runs from the first bin at or above Min
   to the first bin at or above Max (MIRToolbox 1.6.2) or to the last bin at or below Max (MIRToolbox HEAD).
4. Scale (`cfg.chroma_scale`): 'db20' (1.6.2, the paper's release): v = 20 + max(−20, 20 log10 |X| − the
   frame's max of the same over the band), i.e. 0..20; 'linear' (MIRToolbox since 2021-07): v = |X|.
5. Drop the bins above the last whole octave over the band's lowest bin (band 100-3200 Hz for 6 s
   windows, 430.7-3445.3 Hz for 1024-sample frames).
6. Absolute chroma c = round(12 log2(f / 261.6256 Hz)) spans [c_min, c_max]; chroma c gets the mean of v over
   the band bins strictly between the arithmetic midpoints to its neighbours' centre frequencies; the
   lowest and highest absolute chromas are halved.
7. Wrap: pitch class c mod 12 (0 = C) sums its absolute chromas; divide by (max over the 12 + 1e-6).

All band and bin bookkeeping (steps 3, 5, 6 and 7 up to the normalisation) is static: a `ChromaPlan` of Python
ints and one float32 [bins, 12] matrix that maps the band values of a frame to its 12 unnormalised pitch
classes, built in float64 NumPy from (Lw, fs, scale). The per-frame work is one rfft and one matmul.
NormalInput is applied in the frequency domain (it is affine), so the rfft of the raw frames, e.g. the STFT the
other features already compute, can be reused (`chromagram_from_spectrum`).

Public:
    chromagram(frames, cfg) -> float32 [..., 12]
    signal_chromagram(x, cfg, *, frame_length, hop_length) -> float32 [..., T, 12]
    chromagram_from_spectrum(spectrum, frame_min, frame_max, cfg, *, frame_length) -> float32 [..., 12]
    frame_extrema(x, *, frame_length, hop_length, n_frames) -> (float32 [..., T], float32 [..., T])
    chroma_plan(frame_length, sample_rate, scale) -> ChromaPlan
"""
from __future__ import annotations

import dataclasses
import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from dsp.autodiff import safe_sqrt
from dsp.config import ConfigError, FeatureConfig
from dsp.framing import frame, hamming_window
from dsp.signal import as_signal, finite_samples, peak_scale

TUNING_HZ = 261.6256  # mirchromagram 'Tuning': centre frequency of chroma 0 (C4)
MIN_HZ = 100.0  # mirchromagram 'Min' (Gomez 2006)
MAX_HZ = 5000.0  # mirchromagram 'Max', raised to a whole number of octaves above MIN_HZ
CHROMAS_PER_OCTAVE = 12  # 'Res'
OCTAVE_RATIO = 0.85  # 'OctaveRatio' that mirchromagram passes to mirspectrum
WEIGHT = 0.5  # 'Weight': a chroma's interval ends half-way to its neighbours' centre frequencies
DB_RANGE = 20.0  # 1.6.2's 'dB',20: values floored 20 dB below the frame's maximum
NORM_EPS = 1e-6  # mirchromagram 'Normal' Inf: chroma / (max + 1e-6)


class ChromaPlan(NamedTuple):
    """Static bookkeeping of the chromagram of Lw-sample frames (Python ints and one NumPy matrix).

    n_fft: FFT size. band_start, band_stop: rfft bins [band_start, band_stop) of the Min..Max band (the range
    of the 'db20' maximum). chroma_stop: end of the bins kept after the octave cut (band_start < chroma_stop
    <= band_stop). weights: float32 [chroma_stop − band_start, 12], band value -> pitch class before the
    max-normalisation (band means, halved end chromas, wrap). window_spectrum: complex64 [band_stop − band_start],
    the rfft of the symmetric Hamming window over the band (NormalInput's offset, moved to the frequency domain).
    min_hz: the band's Min after the 'OctaveRatio' rule. chroma_range: (c_min, c_max) absolute chromas (0 = C4).
    """

    n_fft: int
    band_start: int
    band_stop: int
    chroma_stop: int
    weights: np.ndarray
    window_spectrum: np.ndarray
    min_hz: float
    chroma_range: tuple[int, int]


def _hamming64(length: int) -> np.ndarray:
    return 0.54 - 0.46 * np.cos(2.0 * np.pi * np.arange(length) / (length - 1))


@functools.lru_cache(maxsize=16)
def chroma_plan(frame_length: int, sample_rate: int, scale: str) -> ChromaPlan:
    """The static `ChromaPlan` of frames of `frame_length` samples (see the module docstring, steps 2-7).

    Raises:
        ConfigError: for an unknown scale, or frames too short to leave any bin in the band.
    """
    if scale not in ("db20", "linear"):
        raise ConfigError(f"chroma_scale={scale!r}: expected 'db20' or 'linear'")
    min_hz = MIN_HZ
    max_hz = 2 * MIN_HZ
    while max_hz < MAX_HZ:
        max_hz *= 2
    ratio = (2.0 ** (1.0 / CHROMAS_PER_OCTAVE) - 1.0) * OCTAVE_RATIO  # wanted ratio between the lowest two bins
    if sample_rate / (min_hz * ratio) > frame_length:  # frame too short for that resolution at Min
        min_hz = sample_rate / frame_length / ratio
    n_fft = 1 << max(0, math.ceil(math.log2(frame_length)))
    half = n_fft // 2
    freqs = sample_rate / 2 * (np.arange(half + 1) / half)  # exact: half is a power of two
    start = int(np.searchsorted(freqs, min_hz, side="left"))  # first bin >= Min
    if scale == "db20":
        stop = int(np.searchsorted(freqs, max_hz, side="left")) + 1  # 1.6.2: through the first bin >= Max
    else:
        stop = int(np.searchsorted(freqs, max_hz, side="right"))  # HEAD: through the last bin <= Max
    stop = min(stop, half + 1)
    if stop - start < 2:
        raise ConfigError(
            f"frames of {frame_length} samples at {sample_rate} Hz leave {max(stop - start, 0)} rfft bins in the "
            f"chroma band [{min_hz:.1f}, {max_hz:.0f}] Hz; at least 2 are needed"
        )
    f_top = freqs[start] * 2.0 ** np.floor(np.log2(freqs[stop - 1] / freqs[start]))  # last whole octave
    chroma_stop = int(np.searchsorted(freqs, f_top, side="right"))
    f = freqs[start:chroma_stop]
    c = np.round(CHROMAS_PER_OCTAVE * np.log2(f / TUNING_HZ)).astype(np.int64)
    chromas = np.arange(c.min(), c.max() + 1)

    def centre(ch):
        return 2.0 ** (ch / CHROMAS_PER_OCTAVE) * TUNING_HZ

    fc = centre(chromas)
    lower = fc - WEIGHT * (fc - centre(chromas - 1))
    upper = fc - WEIGHT * (fc - centre(chromas + 1))
    inside = (f[:, None] > lower) & (f[:, None] < upper)  # [bins, chromas]: open midpoint intervals
    means = inside / np.maximum(inside.sum(axis=0), 1)  # an empty interval contributes 0
    means[:, [0, -1]] /= 2  # mirchromagram halves the lowest and highest absolute chroma
    wrap = np.eye(CHROMAS_PER_OCTAVE)[chromas % CHROMAS_PER_OCTAVE]  # [chromas, 12], 0 = C
    return ChromaPlan(
        n_fft=n_fft,
        band_start=start,
        band_stop=stop,
        chroma_stop=chroma_stop,
        weights=(means @ wrap).astype(np.float32),
        window_spectrum=np.fft.rfft(_hamming64(frame_length), n_fft)[start:stop].astype(np.complex64),
        min_hz=float(min_hz),
        chroma_range=(int(chromas[0]), int(chromas[-1])),
    )


def chromagram(frames: jax.Array, cfg: FeatureConfig) -> jax.Array:
    """MIRToolbox chromagram ('Weight' .5, 'Triangle' 0, 'Normal') of raw, un-windowed frames.

    Args:
        frames: float [..., Lw] raw frames (1024-sample HCDF frames, 132300-sample 6 s key windows, any Lw whose
            band keeps >= 2 bins). Lw is a static shape.
        cfg: FeatureConfig; uses sample_rate and chroma_scale ('db20': MIRToolbox 1.6.2, 'linear': since 2021-07).

    Returns:
        float32 [..., 12] pitch classes C..B, max-normalised: max / (max + 1e-6) ≈ 1 at the top, all >= 0.
        A constant frame (silence, DC), for which MIRToolbox's NormalInput divides 0 by 0, gives all zeros.

    Raises:
        ConfigError: if Lw leaves no chroma band (see `chroma_plan`).

    Supports jit (cfg static) and vmap; traces once per (shape, cfg).

    Examples:
        >>> t = jnp.arange(1024) / 22050
        >>> c = chromagram(jnp.sin(2 * jnp.pi * 440.0 * t), FeatureConfig())
        >>> int(jnp.argmax(c))  # A
        9
    """
    # Scale-free (NormalInput): each frame over the power of two at its peak keeps |X|² in float32's range.
    frames = finite_samples(as_signal(frames, name="chromagram"))[0]
    frames = frames / peak_scale(frames, axis=-1)
    length = int(frames.shape[-1])
    plan = chroma_plan(length, cfg.sample_rate, cfg.chroma_scale)
    spectrum = jnp.fft.rfft(frames * hamming_window(length), n=plan.n_fft, axis=-1)
    return chromagram_from_spectrum(
        spectrum, jnp.min(frames, axis=-1), jnp.max(frames, axis=-1), cfg, frame_length=length
    )


def signal_chromagram(x: jax.Array, cfg: FeatureConfig, *, frame_length: int, hop_length: int) -> jax.Array:
    """`chromagram` of every frame of a signal (frame t = x[..., tH : tH + L], no padding).

    Same values as `chromagram(frame(x, ...), cfg)`, but NormalInput's per-frame minimum and maximum come from
    `frame_extrema` on the signal, which avoids two passes over the materialised frames.

    Args:
        x: float [..., n] signal(s), n >= frame_length.
        cfg: FeatureConfig (sample_rate, chroma_scale).
        frame_length, hop_length: L and H in samples (Python ints): 1024 / 512 for HCDF, 132300 / 66150 for the
            6 s key windows.

    Returns:
        float32 [..., T, 12], T = 1 + (n − L) // H.

    Raises:
        ConfigError: if n < L or L leaves no chroma band.

    Supports jit (cfg and sizes static) and vmap.
    """
    # Scale-free (NormalInput): the signal over the power of two at its peak keeps |X|² in float32's range (a
    # 6 s window of x 1e20 has |X| ~ 1e25); non-finite samples (possible only under jit) read as 0.
    x = finite_samples(as_signal(x, name="signal_chromagram"))[0]
    x = x / peak_scale(x, axis=-1)
    frames = frame(x, dataclasses.replace(cfg, frame_length=frame_length, hop_length=hop_length))
    lo, hi = frame_extrema(x, frame_length=frame_length, hop_length=hop_length, n_frames=int(frames.shape[-2]))
    plan = chroma_plan(frame_length, cfg.sample_rate, cfg.chroma_scale)
    spectrum = jnp.fft.rfft(frames * hamming_window(frame_length), n=plan.n_fft, axis=-1)
    return chromagram_from_spectrum(spectrum, lo, hi, cfg, frame_length=frame_length)


def frame_extrema(x: jax.Array, *, frame_length: int, hop_length: int, n_frames: int) -> tuple[jax.Array, jax.Array]:
    """Minimum and maximum sample of each frame x[..., tH : tH + L], t < n_frames, from the signal.

    When H divides L (1024 / 512, 6 s / 3 s) a frame is L / H whole hop-sized blocks: reduce each block once, then
    take the extremum over L / H neighbouring blocks (a pass over n samples instead of T·L). Otherwise the frames
    are gathered with a static index table.

    Args:
        x: float [..., n] signal(s); n >= (n_frames − 1) H + L.
        frame_length, hop_length, n_frames: L, H and T (Python ints).

    Returns:
        (float32 [..., T], float32 [..., T]): per-frame min and max.
    """
    x = jnp.asarray(x, jnp.float32)
    if n_frames == 1:
        head = x[..., :frame_length]
        return jnp.min(head, axis=-1)[..., None], jnp.max(head, axis=-1)[..., None]
    if frame_length % hop_length == 0:
        per = frame_length // hop_length
        n_blocks = n_frames + per - 1
        blocks = x[..., : n_blocks * hop_length].reshape(*x.shape[:-1], n_blocks, hop_length)
        block_min, block_max = jnp.min(blocks, axis=-1), jnp.max(blocks, axis=-1)
        lo = functools.reduce(jnp.minimum, [block_min[..., j : j + n_frames] for j in range(per)])
        hi = functools.reduce(jnp.maximum, [block_max[..., j : j + n_frames] for j in range(per)])
        return lo, hi
    index = np.arange(n_frames)[:, None] * hop_length + np.arange(frame_length)[None, :]  # static
    frames = x[..., index]
    return jnp.min(frames, axis=-1), jnp.max(frames, axis=-1)


def chromagram_from_spectrum(
    spectrum: jax.Array, frame_min: jax.Array, frame_max: jax.Array, cfg: FeatureConfig, *, frame_length: int
) -> jax.Array:
    """`chromagram` from the complex spectrum of the *raw* frames (e.g. the STFT the other features use).

    NormalInput is affine, so the spectrum of the normalised frame is (S − min · Ŵ) / (max − min), with Ŵ the
    rfft of the Hamming window (a static constant): the raw spectrum can be shared with the STFT features.

    Args:
        spectrum: complex [..., n_fft // 2 + 1] rfft(frame · hamming(Lw), n_fft) of the raw frames, n_fft as in
            `chroma_plan(frame_length, ...)` ([..., 513] for 1024-sample frames: the STFT before `abs`).
        frame_min, frame_max: float [...] each raw frame's minimum and maximum sample.
        cfg: FeatureConfig (sample_rate, chroma_scale).
        frame_length: Lw, a Python int.

    Returns:
        float32 [..., 12], as `chromagram`.

    Raises:
        ConfigError: if the spectrum does not have the n_fft // 2 + 1 bins of the plan's FFT size.

    Supports jit (cfg, frame_length static) and vmap.
    """
    plan = chroma_plan(int(frame_length), cfg.sample_rate, cfg.chroma_scale)
    if spectrum.shape[-1] != plan.n_fft // 2 + 1:
        raise ConfigError(
            f"spectrum has {spectrum.shape[-1]} bins; the chromagram of {frame_length}-sample frames needs the "
            f"{plan.n_fft // 2 + 1} bins of a {plan.n_fft}-point rfft"
        )
    lo = jnp.asarray(frame_min, jnp.float32)[..., None]
    span = jnp.asarray(frame_max, jnp.float32)[..., None] - lo
    # NormalInput's 1 / span is applied after the band sums: 'db20' is scale-free and 'linear' divides the 12
    # sums, so a constant frame never divides by zero.
    window = jnp.asarray(plan.window_spectrum)
    band = spectrum[..., plan.band_start : plan.band_stop]
    re = band.real - lo * window.real
    im = band.imag - lo * window.imag
    power = jnp.square(re) + jnp.square(im)
    chroma_power = power[..., : plan.chroma_stop - plan.band_start]
    weights = jnp.asarray(plan.weights)
    if cfg.chroma_scale == "db20":
        peak = jnp.max(power, axis=-1, keepdims=True)
        # D + max(-D, 20 log10(|X| / max|X|)) = 10 log10(max(10^(D/10) |X|² / max|X|², 1)): one log, no sqrt.
        ratio = chroma_power / jnp.where(peak > 0, peak, 1.0)
        values = 10.0 * jnp.log10(jnp.maximum(10.0 ** (DB_RANGE / 10.0) * ratio, 1.0))
        sums = values @ weights
    else:
        sums = (safe_sqrt(chroma_power) @ weights) / jnp.where(span > 0, span, 1.0)
    chroma = sums / (jnp.max(sums, axis=-1, keepdims=True) + NORM_EPS)
    return jnp.where(span > 0, chroma, 0.0).astype(jnp.float32)
