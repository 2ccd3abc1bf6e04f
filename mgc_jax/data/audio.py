"""Audio input: any audio file, decoded once, as float32 mono at the feature sample rate.

API (the one decoding path of extraction, training, inference and corpus discovery):

    decode(path, sample_rate=SAMPLE_RATE) -> Decoded   samples float32 [n] mono at sample_rate, plus what the
                                                       decode learnt: source rate, channels, frames, format,
                                                       decoder, duration_s, and content warnings (a tuple of
                                                       short strings, e.g. "antiphase stereo: ...")
    load(path, sample_rate=SAMPLE_RATE) -> ndarray     decode(...).samples
    check(path) -> AudioInfo                           cheap header probe for listing a corpus (no full decode)
    from_array(x, sample_rate=, rate=, name=)          an array as `load` gives a file (inference.Classifier)
    resample(x, rate_in, rate_out, name)               soxr, after refusing rates and lengths that cannot be audio
    AUDIO_EXTENSIONS                                   the file names taken for audio by every corpus discovery

Decoding. libsndfile (soundfile) reads WAV, FLAC, AIFF, Sun/NeXT `.au` (GTZAN's format), CAF, W64; FFmpeg (PyAV)
reads MP3 (gapless: the LAME header's encoder delay and padding trimmed), Ogg Vorbis/Opus, M4A/MP4 (AAC, ALAC,
Opus), WMA, APE, WavPack, AC-3... The content decides, not the extension: libsndfile is asked first, and
FFmpeg takes what libsndfile does not recognise or what decoders.FFMPEG_FORMATS sends it (the faster and
exact decoder per format, measured in benchmarks/decode_formats.md). The file is read once, in blocks: each
block is mixed down to mono (mean of the channels, so the level stays in [-1, 1]) and fed to a streaming soxr
resampler (quality RESAMPLE_QUALITY, see WORKSPACE.md), so memory is twice the output (the blocks, then
their concatenation) plus one block. No centring, no normalisation: MIRToolbox's `miraudio` defaults
(docs/features.md §0).

Truncation is judged from what the decoder reports in that same pass, never from an estimated length: a
libsndfile header log of short data chunks, fewer frames than an exact header declares (WAV, FLAC, AIFF, AU),
a cut or unflagged last Ogg page; an FFmpeg demuxer error or corrupt packet, fewer packets than an MP4 sample
table lists, an MP3 frame shorter than its own header. (An MP3 cut exactly at a frame boundary is a valid,
shorter MP3: nothing in a CBR file without a Xing header says otherwise.)

Every failure is an `AudioError(path, cause)`: one line naming the file. What each kind of bad or unusual input
gives, on every path (tests/test_bad_input.py checks each row; "refused" = `AudioError` naming the file, a
per-file error line of `launch.predict` (exit status 1, the other files still classified), and a "files not
used" line of `launch.extract`, the other tracks still extracted). No row puts a NaN or Inf in a feature map.

    input                             result
    --------------------------------  -----------------------------------------------------------------------
    empty file (0 bytes)              refused by check and load: "empty file (0 bytes)"
    truncated (header says more)      refused by check and load: "truncated: the header declares N data bytes,
                                      the file holds M" (cut FLAC/Ogg/MP3/M4A streams: "... truncated ...")
    MP3 as distributed                read in full: libsndfile's frame count (an estimate) is not used
    NaN or +-Inf samples (float)      refused by load (check passes: values need a full decode): "non-finite
                                      samples (k NaN, m Inf; first at sample i)"; arrays given to
                                      `inference.Classifier.predict` likewise (`check_samples`)
    |sample| > MAX_ABS_SAMPLE (1e6)   refused by load: "sample values out of range (...)": the float32
                                      kernels would overflow near 1e14, and such a file is corrupt or unscaled
    float samples beyond +-2          read as stored, with the warning "float samples reach +-X ..."
    all zeros, DC only                read as is, with the warning "silent: ..."; music map all 0 (zeros),
                                      brightness / flatness / entropy undefined on every frame (index.json
                                      nan_counts = T); DC c: rms = |c|, zcr = roughness = key clarity = hcdf = 0
    stereo in antiphase               the mean of the channels (silence), with the warning "antiphase stereo"
    bandwidth < 4 kHz                 read, with the warning "band-limited: ..." (8 kHz telephone audio, a
                                      track upsampled from a low rate)
    full-scale clipped                read as stored (no de-clipping); finite maps
    8-bit (PCM_U8), 24-bit, 32-bit    k / 128 - 1, k / 2^23 (exact in float32), the stored float32
    8 kHz, 96 kHz (any rate)          resampled by soxr to 22,050 Hz: n * 22050 / rate samples, rounded
    rate < MIN_SOURCE_RATE (1 kHz)    refused: "sample rate N Hz cannot be audio ..." (a 1 Hz header would
    or > MAX_SOURCE_RATE (1 MHz)      ask the resampler for 22,050 x the samples); likewise for arrays
    longer than MAX_DURATION_S (24 h) refused before decoding when the header says so, else when reached
    out of memory                     refused: "out of memory decoding ..." (the other files go on)
    6 channels (any count)            the mean of the channels
    < 1024 samples (one frame)        read; dsp raises ConfigError naming the sizes; the cache reports
                                      "too short: n samples at 22050 Hz, less than one 1024-sample frame";
                                      predict: "too short to classify: ..."
    < 66,048 samples (one clip)       read and extracted (T < 128 frames); corpus preparation reports
                                      "shorter than one 128-frame clip (T frames)" and does not use it
    FLAC bytes named .wav             the content decides, not the extension: read as the FLAC it is
    text named .au/.snd/.vox/.gsm     refused: "not an audio file (no audio header; ...)" (libsndfile would
                                      read any bytes under these names as headerless 8 kHz audio)
    text named .raw / .mp3 / other    refused: "not an audio file (...)"
    a directory named foo.wav         refused: "is a directory, not an audio file"
    empty path ""                     refused: "empty path (no file named)"
    symbolic link loop / dangling     refused: "symbolic link loop" / "dangling symbolic link (-> target)"
    streamed WAV/AU header            read to the end of the file (a data size of 0xFFFFFFFF means "unknown")
    Ogg cut anywhere                  refused: "truncated: the Ogg stream ends without its end-of-stream page"

Arrays (`from_array`, used by `inference.Classifier`): float [n], [n, channels] or channels-first [channels, n]
(the channel axis is the short one, at most MAX_CHANNELS); integer PCM scaled as soundfile reads it (int16
k / 2^15, int32 k / 2^31, int8 k / 2^7, uint8 k / 2^7 - 1); bool, complex and other dtypes refused; then the
same sample and rate checks as a file.
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
