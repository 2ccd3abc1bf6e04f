"""Warnings about decoded audio that carries little or no music: the nets classify anything, even silence.

`content_warnings` looks at a decoded track (mgc_jax.data.audio.decode) and returns short strings, one per
problem: stereo channels that cancel in the mono mix, a signal that is silent once its DC offset is removed, a
source bandwidth under 4 kHz, float samples far outside +-1. The thresholds are far from real music (the 100
tracks of ../shared/emotify_dev and GTZAN give none; tests/test_audio.py).
"""
from __future__ import annotations

import numpy as np

# Mono mix this far below the loudest channel: the channels cancel (antiphase), the music is mostly gone. A wide
# stereo mix or one silent channel costs at most ~6 dB; only cancellation reaches 20 dB.
ANTIPHASE_DB = 20.0
# Centred level of the whole track below this: silence (or DC only) to any listener; quiet classical recordings
# average -40 to -30 dBFS, 16-bit dither is near -100 dBFS.
SILENT_DBFS = -60.0
BANDWIDTH_HZ = 4000.0
# Energy above BANDWIDTH_HZ below this fraction of the total (-60 dB): nothing above 4 kHz but resampler
# leakage or quantisation noise. Real music, even solo bass or piano, keeps 1e-4 or more up there.
BAND_FRACTION = 1e-6
FLOAT_PEAK = 2.0  # float samples beyond +-2 (+6 dBFS): lossy decoders overshoot by a few dB at most
_FFT = 4096  # samples per spectrum frame (5.4 Hz bins at 22,050 Hz)
_MAX_FRAMES = 64  # frames spread over the track: a bounded cost whatever its length


def content_warnings(x: np.ndarray, rate: int, *, peak: float, is_float: bool,
                     channel_rms: np.ndarray | None = None, mono_rms: float | None = None) -> tuple[str, ...]:
    """Short warnings about a decoded track, empty for ordinary music.

    Args:
      x: float32 [n] the mono samples at `rate` Hz (what the features see).
      rate: Hz of `x`.
      peak: largest |sample| of any channel of the file, as stored.
      is_float: the file stores floating-point samples.
      channel_rms: float [channels] RMS of each stored channel (None for mono files).
      mono_rms: RMS of the mono mix at the file's rate (None for mono files).

    Returns:
      tuple of one-line strings, e.g. ("silent: ...", ).
    """
    out = []
    if is_float and peak > FLOAT_PEAK:
        out.append(f"float samples reach {peak:.3g} (full scale is 1): integer-range values stored as float? "
                   f"divide by 32768")
    mean = float(np.mean(x, dtype=np.float64)) if x.size else 0.0
    centred = _db(_centred_rms(x, mean))
    if centred < SILENT_DBFS:
        what = f"DC only (mean {mean:.3g})" if abs(mean) > 10 ** (SILENT_DBFS / 20) else "silence"
        out.append(f"silent: {what}, centred level {centred:.0f} dBFS")
    if channel_rms is not None and mono_rms is not None and len(channel_rms):
        loudest = float(np.max(channel_rms))
        drop = _db(loudest) - _db(mono_rms)
        if _db(loudest) >= SILENT_DBFS and drop >= ANTIPHASE_DB:
            out.append(f"antiphase stereo: the mono mix is {min(drop, 999):.0f} dB below the loudest channel "
                       f"(the channels cancel)")
    if centred >= SILENT_DBFS and rate > 2 * BANDWIDTH_HZ:
        fraction = _fraction_above(x, rate, BANDWIDTH_HZ)
        if fraction < BAND_FRACTION:
            out.append(f"band-limited: nothing above {BANDWIDTH_HZ / 1000:.0f} kHz ({_db(fraction) / 2:.0f} dB of the "
                       f"energy; a low-rate or upsampled source)")
    return tuple(out)


def _centred_rms(x: np.ndarray, mean: float, chunk: int = 1 << 20) -> float:
    """RMS of x - mean, a chunk at a time: a float64 copy of an hour of audio would be 635 MB."""
    if not x.size:
        return 0.0
    total = 0.0
    for i in range(0, x.size, chunk):
        c = x[i:i + chunk] - np.float32(mean)
        total += float(np.dot(c, c))
    return float(np.sqrt(total / x.size))


def _fraction_above(x: np.ndarray, rate: int, hz: float) -> float:
    """Fraction of the energy above `hz` in up to _MAX_FRAMES Hann-windowed frames spread over `x`."""
    n = min(_FFT, x.size)
    starts = np.unique(np.linspace(0, x.size - n, min(_MAX_FRAMES, max(1, x.size // n))).astype(np.int64))
    frames = np.stack([x[s:s + n] for s in starts]).astype(np.float64)
    frames -= frames.mean(axis=1, keepdims=True)  # a DC offset would leak into every bin through the window
    power = np.abs(np.fft.rfft(frames * np.hanning(n), axis=1)) ** 2
    total = power.sum()
    if total <= 0:
        return 1.0
    above = power[:, np.fft.rfftfreq(n, 1 / rate) > hz].sum()
    return float(above / total)


def _db(amplitude: float) -> float:
    return 20 * np.log10(amplitude) if amplitude > 0 else -np.inf
