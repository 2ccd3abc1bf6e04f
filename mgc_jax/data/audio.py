"""Audio input: any audio file, decoded once into float32 mono at the feature rate, with what the decode learnt.

    decode(path, sample_rate=SAMPLE_RATE) -> Decoded   samples float32 [n] mono at sample_rate, and the file's
                                                       rate, channels, frames, format, decoder, content warnings
    load(path, sample_rate=SAMPLE_RATE) -> ndarray     decode(...).samples
    check(path) -> AudioInfo                           header probe for listing a corpus (no full decode)
    from_array(x, sample_rate=, rate=, name=)          an array as `load` gives a file (inference.Classifier)
    resample(x, rate_in, rate_out, name)               soxr, refusing rates and lengths that cannot be audio
    AUDIO_EXTENSIONS                                   the file names every corpus discovery takes for audio

Every failure is an `AudioError(path, cause)`, one line naming the file; WORKSPACE.md "Bad and unusual audio"
says what each kind of input gives.
"""
from __future__ import annotations

import dataclasses
import os
import pathlib
from typing import NamedTuple

import numpy as np
import soxr

from mgc_jax.data import decoders
from mgc_jax.data.audio_content import content_warnings
from mgc_jax.errors import AudioError

SAMPLE_RATE = 22050  # Hz, the rate of every feature map (FeatureConfig.sample_rate)
RESAMPLE_QUALITY = "VHQ"  # soxr quality: WORKSPACE.md "Resampler" gives the measurements behind the choice
# Rates outside this range cannot be music: below 1 kHz the bandwidth is under 500 Hz (the lowest rates in real
# use are 4-8 kHz), and a header declaring 1 Hz would ask the resampler for 22,050 output samples per stored one.
# Above 1 MHz nothing is audio (DXD is 352.8 kHz, the largest common rate 768 kHz).
MIN_SOURCE_RATE, MAX_SOURCE_RATE = 1000, 1_000_000
# 24 h: longer than any album, DJ set or audiobook part; 7.6 GB of float32 at 22,050 Hz, so a bound on memory too.
MAX_DURATION_S = 24 * 3600.0
# Largest |sample| accepted (float files only can exceed 1): 120 dB above full scale. The feature kernels work in
# float32 and square magnitudes (6 s key-window spectra reach ~1e5 x the peak sample), so beyond ~1e14 they would
# overflow to Inf; 1e6 leaves a 1e8 margin and still accepts integer-range data saved as unscaled float (±32768).
MAX_ABS_SAMPLE = 1e6
MAX_CHANNELS = 64  # of an array given to `from_array`: the short axis of a 2-D array is its channel axis
# Integer PCM as soundfile reads it into float: k / 2^(bits - 1), unsigned 8-bit centred at 128.
_PCM_SCALE = {np.dtype(np.int8): (0, 2.0 ** 7), np.dtype(np.int16): (0, 2.0 ** 15),
              np.dtype(np.int32): (0, 2.0 ** 31), np.dtype(np.uint8): (128, 2.0 ** 7)}

AUDIO_EXTENSIONS = frozenset({
    # libsndfile
    "wav", "wave", "flac", "au", "snd", "aif", "aiff", "aifc", "ogg", "oga", "opus", "caf", "w64", "rf64",
    # FFmpeg
    "mp3", "mp2", "m4a", "m4b", "mp4", "aac", "alac", "wma", "asf", "ape", "wv", "ac3", "eac3", "dts", "mka",
    "webm", "amr", "tak"})
"""File extensions (compared in lower case, without the dot) that corpus discovery takes for audio."""


class AudioInfo(NamedTuple):
    """What the header of a readable audio file says (`check`)."""

    sample_rate: int  # Hz
    channels: int
    frames: int  # samples per channel: exact when `frames_exact`, else an estimate (MP3 without a Xing header)
    format: str  # libsndfile's major format ("WAV", "FLAC"), or FFmpeg's container ("mp3", "mov", "asf")
    subtype: str  # libsndfile's subtype ("PCM_16"), or FFmpeg's decoder ("mp3float", "aac", "alac")
    frames_exact: bool = True

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate


@dataclasses.dataclass(frozen=True)
class Decoded:
    """A decoded file: the samples and everything the decode learnt about the file."""

    samples: np.ndarray  # float32 [n] mono at `sample_rate`
    sample_rate: int  # Hz of `samples`
    source_rate: int  # Hz of the file
    channels: int  # of the file
    frames: int  # samples per channel decoded from the file (exact)
    format: str  # container and encoding, e.g. "WAV PCM_16", "mp3 mp3float", "mov aac"
    decoder: str  # "libsndfile" or "ffmpeg"
    warnings: tuple[str, ...] = ()  # content warnings (audio_content.content_warnings), empty for most files

    @property
    def duration_s(self) -> float:
        return self.frames / self.source_rate


def check(path: str | os.PathLike) -> AudioInfo:
    """Header-level probe of an audio file for listing a corpus (no full decode).

    Opens the file, reads its header (libsndfile's header log: data chunks shorter than declared; the end of an
    Ogg stream), and decodes (libsndfile) or demuxes (FFmpeg) only the last frames, so most cut files are found
    without decoding all of them. Never refuses over an estimated frame count; `decode` finds the rest.

    Raises:
      AudioError: missing, not a regular file, empty, not audio, unsupported format, truncated, no samples,
        or a sample rate that cannot be audio. Sample values are `decode`'s business.
    """
    path = _as_path(path)
    _check_file(path)
    with decoders.decoder_messages(path):
        src = decoders.open_source(path)
        try:
            _check_rate(src.sample_rate, path)
            if src.exact and src.frames / src.sample_rate > MAX_DURATION_S:
                raise _too_long(path, src.frames / src.sample_rate)
            src.probe_tail()
            return AudioInfo(src.sample_rate, src.channels, src.frames, src.major, src.subtype, src.exact)
        finally:
            src.close()


def decode(path: str | os.PathLike, sample_rate: int = SAMPLE_RATE) -> Decoded:
    """Decode an audio file once: float32 mono samples at `sample_rate`, its header facts and content warnings.

    libsndfile reads WAV, FLAC, AIFF, AU; FFmpeg (PyAV) MP3 (gapless), Ogg, M4A (AAC, ALAC), Opus, WMA and the
    rest (`decoders.open_source`: the content decides, not the extension). The file is read once, in blocks,
    each mixed to mono (the mean of the channels) and fed to a streaming soxr (RESAMPLE_QUALITY): memory is
    twice the output plus one block. Truncation is judged from what the decoder reports in this same pass
    (`decoders`), never from an estimated length. No centring, no normalisation (MIRToolbox's `miraudio`).

    Args:
      path: any audio file libsndfile or FFmpeg reads (module docstring).
      sample_rate: output rate in Hz; soxr resamples (streaming, RESAMPLE_QUALITY) when the file's rate differs.

    Returns:
      Decoded(samples float32 [n] in [-1, 1] for integer PCM input (float files may exceed it), n >= 1, ...).

    Raises:
      AudioError: missing, not a file, empty, not audio, unsupported, truncated, no samples, a rate or length
        that cannot be audio, non-finite or out-of-range samples, out of memory; the message names the file.
    """
    _check_rate_argument(sample_rate)
    path = _as_path(path)
    _check_file(path)
    try:
        with decoders.decoder_messages(path):
            src = decoders.open_source(path)
            try:
                return _decode(src, path, sample_rate)
            finally:
                src.close()
    except MemoryError:
        raise AudioError(path, "out of memory decoding this file (close other programs, or cut the file into "
                               "parts)") from None


def load(path: str | os.PathLike, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """`decode(path, sample_rate).samples`: float32 [n] mono at `sample_rate` (AudioError as `decode`)."""
    return decode(path, sample_rate).samples


def _decode(src: decoders.Source, path: pathlib.Path, sample_rate: int) -> Decoded:
    rate = src.sample_rate
    _check_rate(rate, path)
    if src.exact and src.frames / rate > MAX_DURATION_S:
        raise _too_long(path, src.frames / rate)
    stream = soxr.ResampleStream(rate, sample_rate, 1, dtype="float32", quality=RESAMPLE_QUALITY) \
        if rate != sample_rate else None
    out: list[np.ndarray] = []
    n = 0
    peak, mono_energy = 0.0, 0.0
    channel_energy = np.zeros(src.channels)
    bad = _BadSamples()
    limit = MAX_DURATION_S * rate
    for b in src.blocks():  # float32 [channels, m]
        block_peak = np.maximum(b.max(), -b.min())  # NaN propagates: one pass finds non-finite and huge values
        mono = _mix(b)
        if not block_peak <= MAX_ABS_SAMPLE:
            bad.add(mono, n)
        elif not bad:
            peak = max(peak, float(block_peak))
            if len(b) > 1:
                channel_energy += [float(np.dot(c, c)) for c in b]
                mono_energy += float(np.dot(mono, mono))
            out.append(stream.resample_chunk(mono) if stream else mono)
        n += b.shape[1]
        if n > limit:
            raise _too_long(path, n / rate)
    bad.raise_if_any(path)
    if n == 0:
        raise AudioError(path, "no audio samples")
    if stream:
        out.append(stream.resample_chunk(np.zeros(0, np.float32), last=True))
    x = np.concatenate(out) if len(out) != 1 else out[0]
    if x.size == 0:
        raise AudioError(path, f"no audio samples left after resampling {rate} Hz -> {sample_rate} Hz")
    warnings = content_warnings(x, sample_rate, peak=peak, is_float=src.is_float,
                                channel_rms=np.sqrt(channel_energy / n) if src.channels > 1 else None,
                                mono_rms=np.sqrt(mono_energy / n) if src.channels > 1 else None)
    return Decoded(x, sample_rate, rate, src.channels, n, src.format, src.decoder, warnings)


def _mix(b: np.ndarray) -> np.ndarray:
    """float32 [m] mean of the channels of float32 [channels, m] (row by row: numpy's mean over the short axis
    of interleaved data is ~20x slower)."""
    mono = np.array(b[0], dtype=np.float32)  # a copy: the caller keeps it, and the block may be reused
    for c in b[1:]:
        mono += c
    if len(b) > 1:
        mono /= np.float32(len(b))
    return mono


class _BadSamples:
    """NaN / Inf / out-of-range counts of the mono mix over all blocks (for check_samples' message)."""

    def __init__(self):
        self.n_nan = self.n_inf = 0
        self.first_nonfinite = self.first_huge = None
        self.peak = 0.0

    def __bool__(self) -> bool:
        return self.first_nonfinite is not None or self.first_huge is not None

    def add(self, mono: np.ndarray, offset: int) -> None:
        finite = np.isfinite(mono)
        if not finite.all():
            nan = int(np.isnan(mono).sum())
            self.n_nan += nan
            self.n_inf += mono.size - int(finite.sum()) - nan
            if self.first_nonfinite is None:
                self.first_nonfinite = offset + int(np.flatnonzero(~finite)[0])
        huge = np.abs(np.where(finite, mono, 0)) > MAX_ABS_SAMPLE
        if huge.any():
            self.peak = max(self.peak, float(np.abs(mono[huge]).max()))
            if self.first_huge is None:
                self.first_huge = offset + int(np.flatnonzero(huge)[0])

    def raise_if_any(self, path) -> None:
        if self.first_nonfinite is not None:
            raise AudioError(path, f"non-finite samples ({self.n_nan} NaN, {self.n_inf} Inf; first at sample "
                                   f"{self.first_nonfinite})")
        if self.first_huge is not None:
            raise AudioError(path, _out_of_range(self.peak, self.first_huge))


def check_samples(x: np.ndarray, path: str | os.PathLike) -> None:
    """Refuse samples the feature kernels cannot use: NaN, ±Inf, or |x| > MAX_ABS_SAMPLE.

    Args:
      x: float [n] (or any shape) samples, as read (before resampling).
      path: the file (or a name such as "<array>") the AudioError names.

    Raises:
      AudioError: "non-finite samples: ..." or "sample values out of range: ...", with counts and the
        first offending sample index.
    """
    bad = _BadSamples()
    bad.add(np.asarray(x).ravel(), 0)
    bad.raise_if_any(path)


def _out_of_range(peak: float, first: int) -> str:
    return (f"sample values out of range (peak |x| = {peak:.3g} at sample {first}, more than {MAX_ABS_SAMPLE:.0e} "
            f"= 120 dB above full scale: corrupt or unscaled float audio)")


def resample(x: np.ndarray, rate_in, rate_out: int, name: str | os.PathLike = "<array>") -> np.ndarray:
    """float32 [m] = soxr (RESAMPLE_QUALITY) of float [n] from `rate_in` to `rate_out` Hz.

    Raises:
      AudioError: `rate_in` outside [MIN_SOURCE_RATE, MAX_SOURCE_RATE], or an output longer than MAX_DURATION_S,
        checked before the resampler allocates anything; MemoryError becomes an AudioError too.
    """
    _check_rate(rate_in, name)
    if x.shape[0] / rate_in > MAX_DURATION_S:
        raise _too_long(name, x.shape[0] / rate_in)
    if rate_in == rate_out:
        return np.ascontiguousarray(x, dtype=np.float32)
    try:
        return soxr.resample(np.asarray(x, np.float32), rate_in, rate_out, quality=RESAMPLE_QUALITY)
    except MemoryError:
        raise AudioError(name, f"out of memory resampling {x.shape[0]} samples from {rate_in} Hz") from None


def _check_rate(rate, name) -> None:
    if isinstance(rate, bool) or not isinstance(rate, (int, np.integer)):
        raise AudioError(name, f"sample rate must be a whole number of Hz, got {rate!r}")
    if not MIN_SOURCE_RATE <= rate <= MAX_SOURCE_RATE:
        raise AudioError(name, f"sample rate {rate} Hz cannot be audio (accepted: {MIN_SOURCE_RATE} to "
                               f"{MAX_SOURCE_RATE} Hz): a damaged or hostile header")


def _check_rate_argument(sample_rate) -> None:
    if isinstance(sample_rate, bool) or not (isinstance(sample_rate, (int, np.integer)) and sample_rate > 0):
        raise ValueError(f"sample_rate must be a positive int, got {sample_rate!r}")


def _too_long(name, seconds: float) -> AudioError:
    return AudioError(name, f"longer than the {MAX_DURATION_S / 3600:.3g} h limit ({seconds / 3600:.3g} h or more): "
                            f"cut it into parts (more would exhaust memory)")


def from_array(x, *, sample_rate: int = SAMPLE_RATE, rate: int = SAMPLE_RATE, name: str = "<array>") -> np.ndarray:
    """Samples given as an array, as `load` gives a file: float32 mono [n] at `rate`.

    Args:
      x: [n], [n, channels] or [channels, n] (the short axis, at most MAX_CHANNELS long, is the channel axis;
        channels are averaged), float or integer PCM (scaled to [-1, 1] as soundfile reads it), or a sequence
        of numbers (converted with numpy first, never traced element by element).
      sample_rate: the rate of `x` in Hz; soxr resamples to `rate` when they differ (`resample`: a rate that
        cannot be audio is refused).
      rate: the output rate (the feature rate).
      name: what the AudioError names.

    Raises:
      AudioError: bool, complex or non-numeric dtype; more than two axes or an ambiguous 2-D shape; no samples;
        non-finite or out-of-range samples (`check_samples`); a rate or length that cannot be audio.
    """
    x = np.asarray(x)
    if x.dtype in _PCM_SCALE:
        offset, scale = _PCM_SCALE[x.dtype]
        x = (x.astype(np.float64) - offset) / scale
    elif x.dtype.kind == "f":
        x = x.astype(np.float64)
    elif x.dtype.kind in "iu":
        raise AudioError(name, f"unsupported integer sample type {x.dtype} (integer PCM is int8, int16, int32 or "
                               f"uint8; convert other types to float in [-1, 1])")
    else:
        raise AudioError(name, f"samples must be real numbers (float or integer PCM), got dtype {x.dtype}")
    if x.ndim == 2:
        short = int(np.argmin(x.shape))
        if x.shape[short] > MAX_CHANNELS:
            raise AudioError(name, f"ambiguous 2-D samples of shape {x.shape}: expected [n, channels] or "
                                   f"[channels, n] with at most {MAX_CHANNELS} channels")
        x = x.mean(axis=short)
    if x.ndim != 1:
        raise AudioError(name, f"expected samples [n], [n, channels] or [channels, n], got shape {x.shape}")
    if x.size == 0:
        raise AudioError(name, "no audio samples")
    check_samples(x, name)
    return resample(x, sample_rate, rate, name)


def _as_path(path) -> pathlib.Path:
    # pathlib.Path("") is "." (the current folder): name the real mistake instead of "is a directory".
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"expected a path (str or os.PathLike), got {type(path).__name__}")
    if os.fspath(path) in ("", b""):
        raise AudioError("<empty path>", "empty path (no file named)")
    return pathlib.Path(path)


def _check_file(path: pathlib.Path) -> None:
    if not path.exists():
        if path.is_symlink():
            try:
                path.resolve(strict=True)
            except RuntimeError:  # Python < 3.13 reports a loop as RuntimeError, later ones as OSError(ELOOP)
                raise AudioError(path, "symbolic link loop") from None
            except OSError as e:
                if e.errno == 40:  # ELOOP
                    raise AudioError(path, "symbolic link loop") from None
            raise AudioError(path, f"dangling symbolic link (-> {os.readlink(path)})")
        raise AudioError(path, "no such file")
    if path.is_dir():
        raise AudioError(path, "is a directory, not an audio file")
    if not path.is_file():
        raise AudioError(path, "not a regular file")
    if path.stat().st_size == 0:
        raise AudioError(path, "empty file (0 bytes)")
