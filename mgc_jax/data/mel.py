"""The mel scale (Slaney's) and its triangular filters in NumPy: one home for the MFCC baseline and the nets'
mel-band front end.
"""
from __future__ import annotations

import functools

import numpy as np

# Slaney's scale: linear (200/3 Hz per mel) below 1 kHz, logarithmic (27 mel per factor 6.4) above.
_F_SP, _MIN_LOG_HZ, _LOGSTEP = 200.0 / 3, 1000.0, np.log(6.4) / 27.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP


def hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney's mel scale of frequencies f (Hz), float64, same shape."""
    f = np.asarray(f, np.float64)
    return np.where(f < _MIN_LOG_HZ, f / _F_SP, _MIN_LOG_MEL + np.log(np.maximum(f, 1e-12) / _MIN_LOG_HZ) / _LOGSTEP)


def mel_to_hz(m: np.ndarray) -> np.ndarray:
    """Inverse of `hz_to_mel`: mels -> Hz, float64, same shape."""
    m = np.asarray(m, np.float64)
    return np.where(m < _MIN_LOG_MEL, _F_SP * m, _MIN_LOG_HZ * np.exp(_LOGSTEP * (m - _MIN_LOG_MEL)))


def mel_filterbank(n_bins: int, sample_rate: float, n_mels: int) -> np.ndarray:
    """float64 [n_bins, n_mels]: triangular filters between 0 Hz and Nyquist, each of unit area in Hz
    (librosa.filters.mel(norm="slaney") transposed, for bins = n_fft // 2 + 1)."""
    freqs = np.linspace(0.0, sample_rate / 2, n_bins)
    edges = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(sample_rate / 2), n_mels + 2))
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    up = (freqs[:, None] - lower) / (centre - lower)
    down = (upper - freqs[:, None]) / (upper - centre)
    return np.maximum(0.0, np.minimum(up, down)) * (2.0 / (upper - lower))


@functools.lru_cache(maxsize=16)
def band_means(n_bins: int, n_bands: int, sample_rate: float) -> np.ndarray:
    """float32 [n_bins, n_bands]: `mel_filterbank`'s triangles scaled so each column sums to 1, i.e. x @ W is
    the triangle-weighted mean of each band's bins (a band of a standardised map stays in its units).

    Raises ValueError when a band covers no bin (too many bands for the bins: the lowest triangles of Slaney's
    linear region are 2 x (Nyquist / ~(n_bands + 1) mel steps) wide).
    """
    w = mel_filterbank(n_bins, sample_rate, n_bands)
    total = w.sum(axis=0)
    if not (total > 0).all():
        raise ValueError(f"{n_bands} mel bands over {n_bins} bins: band {int(np.argmin(total))} covers no bin; "
                         "use fewer bands")
    out = (w / total).astype(np.float32)
    out.setflags(write=False)  # cached and shared: nobody may edit it in place
    return out
