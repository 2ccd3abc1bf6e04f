"""Test oracle: a slow, literal float64 NumPy port of the MIRToolbox chromagram, key clarity and HCDF.

It follows docs/features.md §1.7-§1.8 one frame and one chroma at a time, in the shape of
MIRToolbox's `mirspectrum` (NormalInput, 'OctaveRatio' resolution rule, Min/Max band), `mirchromagram`
(octave cut, band means over open midpoint intervals, halved end chromas, wrap, max-normalisation),
`mirkeystrength` (Pearson correlation with the Gomez profiles), `mirkey` (the contrast rule behind
its NaN case), `mirtonalcentroid` and `mirhcdf`. Two chroma scales:

- 'db20': MIRToolbox 1.6.2 (the paper's release): 20 log10(|X| + 1e-16) floored 20 dB below the
  frame's maximum over the band, whose last bin is the first one at or above Max.
- 'linear': MIRToolbox since 2021-07: linear |X|, band ending at the last bin at or below Max.

Deliberately written for clarity, not speed; the JAX kernels in dsp/chroma.py, dsp/key.py and
dsp/tonal.py must match it to float32 rounding.
"""
from __future__ import annotations

import math

import numpy as np

TUNING_HZ = 261.6256  # mirchromagram 'Tuning': frequency of chroma 0 (C4)
CHROMA_MIN_HZ, CHROMA_MAX_HZ = 100.0, 5000.0  # mirchromagram 'Min' / 'Max' defaults (Gomez 2006)
RES = 12  # chromas per octave
OCTAVE_RATIO = 0.85  # 'OctaveRatio' passed by mirchromagram to mirspectrum
WEIGHT = 0.5  # 'Weight': interval edges at the arithmetic midpoints to the neighbouring chromas
DB_FLOOR = 20.0  # 1.6.2's 'dB',20

# MIRToolbox gomezprofs.mat, rows 0 (C major) and 12 (C minor), 10 printed digits; row k = row rotated by k.
C_MAJOR = [1.5613065279, 0.8396335224, 1.1928630591, 0.7586182944, 1.4157162747, 1.0300166775,
           0.8755926795, 1.5361036632, 0.8414725635, 1.2140956872, 0.7235162154, 1.1331003168]
C_MINOR = [1.6221607578, 0.8027398386, 1.1587429431, 1.3813449822, 0.9794649735, 1.0486369701,
           0.8594992755, 1.5466225788, 1.0522966014, 1.0178990856, 1.1277555660, 0.9861934689]


def gomez_profiles() -> np.ndarray:
    """float64 [24, 12]: 12 major keys C..B, then 12 minor keys C..B (rotations of the C rows)."""
    return np.array([np.roll(C_MAJOR, k) for k in range(12)] + [np.roll(C_MINOR, k) for k in range(12)])


def band_spectrum(frame: np.ndarray, sample_rate: int, scale: str) -> tuple[np.ndarray, np.ndarray]:
    """The spectrum mirchromagram asks of mirspectrum for one raw frame: (freqs Hz [nb], values [nb]).

    NormalInput, symmetric Hamming, FFT with the 'OctaveRatio' rule (Min raised when the frame is too
    short), the Min..Max band, then the chosen scale. A constant frame gives NaN values (0 / 0), as MATLAB.
    """
    d = np.asarray(frame, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        d = (d - d.min()) / (d.max() - d.min())  # 'NormalInput'
    n = len(d)
    d = d * (0.54 - 0.46 * np.cos(2 * np.pi * np.arange(n) / (n - 1)))
    f_min = CHROMA_MIN_HZ
    f_max = 2 * f_min
    while f_max < CHROMA_MAX_HZ:  # mirchromagram raises Max to a whole number of octaves above Min
        f_max *= 2
    ratio = (2.0 ** (1.0 / RES) - 1.0) * OCTAVE_RATIO  # smallest frequency ratio between the first two bins
    if sample_rate / (f_min * ratio) > n:  # frame too short for that resolution at Min: raise Min
        f_min = sample_rate / n / ratio
    n_fft = 2 ** math.ceil(math.log2(n))
    spectrum = np.fft.fft(d, n_fft)
    length = n_fft // 2 + 1
    freqs = sample_rate / 2 * np.arange(length) / (length - 1)
    lo = int(np.flatnonzero(freqs >= f_min)[0])
    if scale == "db20":
        hi = int(np.flatnonzero(freqs >= f_max)[0])  # 1.6.2: first bin at or above Max
    elif scale == "linear":
        hi = int(np.flatnonzero(freqs <= f_max)[-1])  # HEAD: last bin at or below Max
    else:
        raise ValueError(scale)
    mag = np.abs(spectrum[lo : hi + 1])
    if scale == "db20":
        db = 20 * np.log10(mag + 1e-16)
        mag = DB_FLOOR + np.maximum(-DB_FLOOR, db - db.max())
    return freqs[lo : hi + 1], mag


def chroma_from_band(freqs: np.ndarray, values: np.ndarray) -> np.ndarray:
    """mirchromagram on one band spectrum: float64 [12] (C..B), max-normalised (max + 1e-6)."""
    f_keep = freqs[0] * 2.0 ** np.floor(np.log2(freqs[-1] / freqs[0]))  # last whole octave above the lowest bin
    keep = freqs <= f_keep
    freqs, values = freqs[keep], values[keep]
    c = np.round(RES * np.log2(freqs / TUNING_HZ)).astype(int)
    chromas = np.arange(c.min(), c.max() + 1)
    absolute = np.zeros(len(chromas))
    for i, ch in enumerate(chromas):
        fc = 2.0 ** (ch / RES) * TUNING_HZ
        fl = 2.0 ** ((ch - 1) / RES) * TUNING_HZ
        fr = 2.0 ** ((ch + 1) / RES) * TUNING_HZ
        inside = (freqs > fc - WEIGHT * (fc - fl)) & (freqs < fc - WEIGHT * (fc - fr))
        if inside.any():
            absolute[i] = values[inside].mean()
        if i == 0 or i == len(chromas) - 1:
            absolute[i] /= 2
    wrapped = np.zeros(RES)
    for ch, v in zip(chromas, absolute):
        wrapped[ch % RES] += v
    return wrapped / (wrapped.max() + 1e-6)


def chromagram(frame: np.ndarray, sample_rate: int = 22050, scale: str = "db20") -> np.ndarray:
    """float64 [12] chroma of one raw frame (NaN for a constant frame, as MIRToolbox)."""
    return chroma_from_band(*band_spectrum(frame, sample_rate, scale))


def key_strengths(chroma: np.ndarray) -> np.ndarray:
    """float64 [24] Pearson correlations with the Gomez profiles (0 for an all-zero chroma, as mirkeystrength)."""
    chroma = np.asarray(chroma, dtype=np.float64)
    if not np.max(np.abs(chroma)):
        return np.zeros(24)
    return np.array([np.corrcoef(chroma, p)[0, 1] for p in gomez_profiles()])


def windows(x: np.ndarray, length: int, hop: int) -> np.ndarray:
    """[W, length] frames at hop (no padding); one window of the whole signal when it is shorter than `length`."""
    x = np.asarray(x, dtype=np.float64)
    if len(x) <= length:
        return x[None, :]
    n = 1 + (len(x) - length) // hop
    return np.stack([x[i * hop : i * hop + length] for i in range(n)])


def key_clarity(x: np.ndarray, sample_rate: int = 22050, scale: str = "db20", *, window_s: float = 6.0,
                hop_s: float = 3.0, contrast: float = 0.1) -> np.ndarray:
    """float64 [W] key clarity per window: max of the 24 key strengths, NaN where mirpeaks finds no peak.

    mirpeaks normalises the strengths over all windows and keys to [0, 1] and keeps only values reaching
    `contrast`; a window whose largest strength stays below it (or a track with one constant value) is NaN.
    """
    frames = windows(x, int(round(window_s * sample_rate)), int(round(hop_s * sample_rate)))
    ks = np.stack([key_strengths(chromagram(f, sample_rate, scale)) for f in frames])
    lo, hi = ks.min(), ks.max()
    out = ks.max(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        reached = (out - lo) / (hi - lo) >= contrast
    return np.where(reached, out, np.nan)


def tonal_centroid_matrix() -> np.ndarray:
    """float64 [6, 12] Φ of mirtonalcentroid: fifths (r 1), minor thirds (r 1), major thirds (r 0.5)."""
    l = np.arange(12)
    return np.array([np.sin(l * 7 * np.pi / 6), np.cos(l * 7 * np.pi / 6),
                     np.sin(l * 3 * np.pi / 2), np.cos(l * 3 * np.pi / 2),
                     0.5 * np.sin(l * 2 * np.pi / 3), 0.5 * np.cos(l * 2 * np.pi / 3)])


def hcdf(x: np.ndarray, sample_rate: int = 22050, scale: str = "db20", *, frame_length: int = 1024,
         hop_length: int = 512) -> np.ndarray:
    """float64 [T] ||ζ[t] − ζ[t−1]||₂ on 1024/512 frames with HCDF[0] = 0 (MIRToolbox returns [1:])."""
    frames = windows(x, frame_length, hop_length)
    zeta = np.stack([tonal_centroid_matrix() @ chromagram(f, sample_rate, scale) for f in frames])
    return np.concatenate([[0.0], np.linalg.norm(np.diff(zeta, axis=0), axis=1)])
