"""Test oracle: a slow, literal float64 NumPy port of MIRToolbox's mirpeaks contrast selection.

It follows docs/features.md §1.6 step by step, one frame at a time and one candidate at a time,
in the shape of the mirpeaks loop (MIRToolbox `mirpeaks.m`, options used by `mirroughness`:
'Contrast' cthr, SelectFirst 0, Threshold 0, Total Inf, Normalize 'Global', no NoBegin/NoEnd).
It is deliberately written for clarity, not speed: the JAX picker in `dsp/peaks.py` must return
identical peak sets. Also here: the Sethares dissonance of one frame's peaks, in float64.
"""
from __future__ import annotations

import numpy as np

B1, B2, XSTAR, S1, S2 = 3.51, 5.75, 0.24, 0.0207, 18.96  # Sethares' Plomp-Levelt fit (mirroughness.m)


def normalize_global(spec: np.ndarray) -> np.ndarray:
    """(X - min) / (max - min) over all bins and frames of `spec` float [T, bins], in float64.

    A constant spectrogram gives NaN everywhere (0/0), as MATLAB does, so no bin passes a threshold.
    """
    x = np.asarray(spec, dtype=np.float64)
    lo, hi = x.min(), x.max()
    with np.errstate(invalid="ignore", divide="ignore"):
        return (x - lo) / (hi - lo)


def contrast_peaks_column(d: np.ndarray, cthr: float, select_first: float = 0.0) -> list[int]:
    """Peak bins (0-based, increasing) of one normalised column `d` float64 [bins]."""
    dh = np.concatenate([[-np.inf], np.asarray(d, dtype=np.float64), [-np.inf]])  # padded column
    ddh = np.diff(dh)
    # Candidates: indices into dh of local maxima reaching the contrast (and the threshold 0).
    inner = dh[1:-1]
    with np.errstate(invalid="ignore"):
        ok = (inner >= cthr) & (inner >= 0.0) & (ddh[:-1] > 0) & (ddh[1:] <= 0)
    mxk = list(np.flatnonzero(ok) + 1)
    final: list[int] = []
    if not mxk:
        return final
    j = 0
    cur = mxk[j]
    bufmin = np.inf
    bufmax = dh[cur]
    oldbufmin = np.min(dh[: mxk[0]])  # includes the left padding, so -inf
    for jj in range(1, len(mxk)):
        gap = dh[mxk[jj - 1] + 1 : mxk[jj]]
        bufmin = min(bufmin, np.min(gap))
        val = dh[mxk[jj]]
        if bufmax - bufmin < cthr:  # no contrastive notch between the current candidate and this one
            if val > bufmax and (val - bufmax > select_first or bufmax - oldbufmin < cthr):
                j = jj
                cur = mxk[j]
                bufmax = dh[cur]
                oldbufmin = min(oldbufmin, bufmin)
                bufmin = np.inf
            elif val - bufmax <= select_first:
                bufmax = max(bufmax, val)
                oldbufmin = min(oldbufmin, bufmin)
        else:  # a notch of at least cthr
            if bufmax - oldbufmin < cthr:  # the current candidate is too weak: dropped
                oldbufmin = min(oldbufmin, bufmin)
            else:
                final.append(cur)
                oldbufmin = bufmin
            bufmax = val
            j = jj
            cur = mxk[j]
            bufmin = np.inf
    if bufmax - oldbufmin >= cthr and bufmax - np.min(dh[cur + 1 :]) >= cthr:
        final.append(cur)
    return [int(c) - 1 for c in final]  # back to 0-based bins of the unpadded column


def contrast_peaks(spec: np.ndarray, cthr: float = 0.01, select_first: float = 0.0) -> list[list[int]]:
    """Peak bins of every frame of `spec` float [T, bins], with the track-global normalisation."""
    d = normalize_global(spec)
    return [contrast_peaks_column(col, cthr, select_first) for col in d]


def plomp_pair(f1: float, f2: float) -> float:
    """Sethares' dissonance of two unit pure tones at f1, f2 Hz (float64)."""
    s = XSTAR / (S1 * min(f1, f2) + S2)
    df = abs(f2 - f1)
    return float(np.exp(-B1 * s * df) - np.exp(-B2 * s * df))


def dissonance_frame(freqs, amps) -> float:
    """Σ_{i<j} v_i v_j plomp(f_i, f_j) over one frame's peaks, literal double loop in float64."""
    total = 0.0
    n = len(freqs)
    for i in range(n):
        for j in range(i + 1, n):
            total += float(amps[i]) * float(amps[j]) * plomp_pair(float(freqs[i]), float(freqs[j]))
    return total


def reference_stft(x: np.ndarray, frame_length: int = 1024, hop_length: int = 512) -> np.ndarray:
    """The spectrum MIRToolbox hands to mirpeaks (docs/features.md §0), in float64: [T, frame_length // 2 + 1].

    No padding, T = 1 + (n - L) // H; symmetric Hamming window; |rfft| un-normalised (n_fft = L here).
    """
    x = np.asarray(x, dtype=np.float64)
    n_frames = 1 + (len(x) - frame_length) // hop_length
    frames = np.lib.stride_tricks.sliding_window_view(x, frame_length)[::hop_length][:n_frames]
    k = np.arange(frame_length)
    window = 0.54 - 0.46 * np.cos(2 * np.pi * k / (frame_length - 1))
    return np.abs(np.fft.rfft(frames * window, axis=-1))


def two_tones(k1: int, k2: int | None, *, n_frames: int = 8, sample_rate: int = 22050, n_fft: int = 1024) -> np.ndarray:
    """Equal-amplitude (0.5) sines at the centres of bins k1 and k2 (None: one sine), float64 [n] samples."""
    t = np.arange(n_fft + (n_frames - 1) * n_fft // 2) / sample_rate
    x = 0.5 * np.sin(2 * np.pi * k1 * sample_rate / n_fft * t)
    if k2 is not None:
        x = x + 0.5 * np.sin(2 * np.pi * k2 * sample_rate / n_fft * t)
    return x
