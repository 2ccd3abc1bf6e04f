"""Audio input: any file libsndfile reads, as float32 mono at the feature sample rate.

`load(path)` reads wav, flac, ogg, aiff, Sun/NeXT `.au` (GTZAN's format) and mp3 (libsndfile >= 1.1)
through `soundfile`, mixes down to mono (mean of the channels, so the level stays in [-1, 1]) and
resamples with soxr (VHQ) when the file's rate differs. No centring, no normalisation: MIRToolbox's
`miraudio` defaults (docs/features.md §0).

`check(path)` is the cheap header-level test used while scanning a corpus: it opens the file, reads
libsndfile's header log for data chunks shorter than declared, and decodes the last few frames, so
a truncated or corrupt file is found without decoding all of it.

Every failure is an `AudioError(path, cause)` with one of the causes below.

What each kind of bad or unusual input gives, on every path (tests/support/bad_audio.py writes a file per row;
"refused" = `AudioError` naming the file, a per-file error line of `launch.predict` (exit status 1, the other
files still classified), and a "files not used" line of `launch.extract`, the other tracks still extracted).
No row puts a NaN or Inf in a feature map.

    input                             result
    --------------------------------  -----------------------------------------------------------------------
    empty file (0 bytes)              refused by check and load: "empty file (0 bytes)"
    truncated (header says more)      refused by check and load: "truncated: the header declares N data bytes,
                                      the file holds M" (cut FLAC/Ogg/MP3 streams: "... truncated")
    NaN or +-Inf samples (float)      refused by load (check passes: values need a full decode): "non-finite
                                      samples (k NaN, m Inf; first at sample i)"; arrays given to
                                      `inference.Classifier.predict` likewise (`check_samples`)
    |sample| > MAX_ABS_SAMPLE (1e6)   refused by load: "sample values out of range (...)": the float32
                                      kernels would overflow near 1e14, and such a file is corrupt or unscaled
    all zeros                         read as is; music map all 0, brightness / flatness / entropy counted
                                      undefined on every frame (index.json nan_counts = T); STFT map all 0;
                                      `launch.predict` still answers (what the nets say of silence)
    DC offset c                       read as is (no centring): rms = |c|, zcr = roughness = key clarity =
                                      hcdf = 0, brightness < 1e-3 (window side lobes only)
    full-scale clipped                read as stored (no de-clipping); finite maps
    8-bit (PCM_U8), 24-bit, 32-bit    k / 128 - 1, k / 2^23 (exact in float32), the stored float32 (values
    float                             beyond +-1 kept, up to MAX_ABS_SAMPLE)
    8 kHz, 96 kHz (any rate)          resampled by soxr VHQ to 22,050 Hz: n * 22050 / rate samples, rounded
    6 channels (any count)            the mean of the channels
    < 1024 samples (one frame)        read; dsp raises ConfigError naming the sizes; the cache reports
                                      "too short: n samples at 22050 Hz, less than one 1024-sample frame";
                                      predict: "too short to classify: ..."
    < 66,048 samples (one clip)       read and extracted (T < 128 frames); corpus preparation reports
                                      "shorter than one 128-frame clip (T frames)" and does not use it;
                                      predict: "too short to classify: n samples (x s) at 22050 Hz,
                                      one clip needs 128 frames = 66048 samples (2.995 s)"
    10 minutes (any length)           full-length maps (T = 25,838 for 600 s; the cache crops only past the
                                      last full 6 s key window); predict votes over every 128-frame window
                                      (402 clips) unless --max_clips caps them
    FLAC bytes named .wav             the content decides, not the extension: read as the FLAC it is
    text named .au/.snd/.vox/.gsm     refused: "not an audio file (no audio header; ...)" (libsndfile would
                                      read any bytes under these names as headerless 8 kHz audio)
    text named .raw / .mp3 / other    refused: "not an audio file (...)"
    a directory named foo.wav         refused: "is a directory, not an audio file"; corpus discovery:
                                      "a folder inside a genre folder (expected audio files)"
    empty path ""                     refused: "empty path (no file named)"
    symbolic link loop / dangling     refused: "symbolic link loop" / "dangling symbolic link (-> target)"
    streamed WAV/AU header            read: a data size of 0xFFFFFFFF means "unknown, read to the end of the
    (sizes 0xFFFFFFFF)                file" (what a recorder writing to a pipe leaves), as libsndfile does
    Ogg cut anywhere                  refused: the last Ogg page must be complete and carry the end-of-stream
                                      flag ("truncated: the Ogg stream ends without its end-of-stream page")

Arrays (`from_array`, used by `inference.Classifier`): float [n], [n, channels] or channels-first [channels, n]
(the channel axis is the short one, at most MAX_CHANNELS); integer PCM scaled as soundfile reads it (int16
k / 2^15, int32 k / 2^31, int8 k / 2^7, uint8 k / 2^7 - 1); bool, complex and other dtypes refused; then the
same sample checks as a file.
"""
from __future__ import annotations

import contextlib
import os
import pathlib
import re
import sys
import tempfile
from typing import NamedTuple

import numpy as np
import soundfile as sf
import soxr
from absl import logging

from mgc_jax.errors import AudioError

SAMPLE_RATE = 22050  # Hz, the rate of every feature map (FeatureConfig.sample_rate)
_TAIL_FRAMES = 4096  # frames decoded at the end of a file by `check` (enough to cross a FLAC/MP3/Vorbis block)
# Largest |sample| accepted (float files only can exceed 1): 120 dB above full scale. The feature kernels work in
# float32 and square magnitudes (6 s key-window spectra reach ~1e5 x the peak sample), so beyond ~1e14 they would
# overflow to Inf; 1e6 leaves a 1e8 margin and still accepts integer-range data saved as unscaled float (±32768).
MAX_ABS_SAMPLE = 1e6

# libsndfile's header log says "data : 44100 (should be 22028)" (WAV), "Data Size : N (should be M)"
# (AU), "SSND : N (should be M)" (AIFF) when a file holds fewer bytes than its header declares.
_SHORT_CHUNK = re.compile(r"(?:\bdata|Data Size|SSND)\s*:\s*(\d+)\s*\(should be (\d+)\)")
_ENDED_EARLY = ("ended unexpectedly", "> file length")
# A WAV/AU data size of 0xFFFFFFFF is the "unknown length" marker of a streamed header, not a size.
_STREAMED_SIZE = 0xFFFFFFFF
_OGG_EOS = 0x04  # header_type flag of an Ogg page: last page of its logical stream
_OGG_TAIL_BYTES = 1 << 17  # the last Ogg page is at most ~64 KiB; read twice that from the end
MAX_CHANNELS = 64  # of an array given to `from_array`: the short axis of a 2-D array is its channel axis
# Integer PCM as soundfile reads it into float: k / 2^(bits - 1), unsigned 8-bit centred at 128.
_PCM_SCALE = {np.dtype(np.int8): (0, 2.0 ** 7), np.dtype(np.int16): (0, 2.0 ** 15),
              np.dtype(np.int32): (0, 2.0 ** 31), np.dtype(np.uint8): (128, 2.0 ** 7)}


class AudioInfo(NamedTuple):
    """What the header of a readable audio file says."""

    sample_rate: int  # Hz
    channels: int
    frames: int  # samples per channel
    format: str  # libsndfile major format, e.g. "WAV", "AU"
    subtype: str  # e.g. "PCM_16"

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate


def check(path: str | os.PathLike) -> AudioInfo:
    """Header-level validity check of an audio file (no full decode).

    Raises:
      AudioError: missing, not a regular file, empty, not audio (also: no header, where libsndfile would
        guess a headerless format from the extension), unsupported format, truncated (data shorter than the
        header declares, or the last frames do not decode), or no samples. Sample values are `load`'s
        business (NaN / Inf / out of range need a full decode).
    """
    path = _as_path(path)
    _check_file(path)
    with _decoder_messages(path):
        return _check_header(path)


def _check_header(path: pathlib.Path) -> AudioInfo:
    try:
        f = sf.SoundFile(path)
    except sf.LibsndfileError as e:
        raise AudioError(path, _libsndfile_cause(e)) from e
    except (RuntimeError, OSError) as e:  # soundfile raises RuntimeError for some decoder failures
        raise AudioError(path, f"unreadable ({_one_line(e)})") from e
    except TypeError as e:  # soundfile's "samplerate must be specified": a `.raw` name, headerless by definition
        raise AudioError(path, f"not an audio file (headerless raw data: {_one_line(e)})") from e
    with f:
        info = AudioInfo(f.samplerate, f.channels, f.frames, f.format, f.subtype)
        if info.format == "RAW":
            # libsndfile found no header and guessed a headerless format from the extension alone
            # (.au/.snd: 8 kHz mu-law, .vox: ADPCM, .gsm: GSM 6.10): any bytes would "decode" as noise.
            raise AudioError(path, f"not an audio file (no audio header; libsndfile would guess headerless "
                                   f"{info.sample_rate} Hz {info.subtype} from the .{path.suffix[1:]} extension)")
        _check_log(path, f.extra_info)
        if info.format == "OGG":
            _check_ogg_end(path)
        if info.frames <= 0:
            raise AudioError(path, "no audio samples (the header declares 0 frames)")
        if f.seekable():
            try:
                f.seek(max(0, info.frames - _TAIL_FRAMES))
                tail = f.read(_TAIL_FRAMES, dtype="float32", always_2d=True)
            except (RuntimeError, OSError) as e:  # LibsndfileError is a RuntimeError
                raise AudioError(path, f"truncated or corrupt: the end of the file does not decode ({_one_line(e)})")
            if len(tail) < min(info.frames, _TAIL_FRAMES):
                raise AudioError(path, f"truncated: the last of the {info.frames} declared frames do not decode")
    return info


def load(path: str | os.PathLike, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Read an audio file as mono float32 at `sample_rate`.

    Args:
      path: any file libsndfile reads (wav, flac, ogg, aiff, au, mp3, ...).
      sample_rate: output rate in Hz; soxr (VHQ) resamples when the file's rate differs.

    Returns:
      float32 [n] in [-1, 1] for integer PCM input (float files may exceed it), n >= 1.

    Raises:
      AudioError: missing, not a file, empty, not audio, unsupported format, truncated, no samples,
        non-finite or out-of-range samples (`check_samples`); the message names the file and the cause.
    """
    if not (isinstance(sample_rate, (int, np.integer)) and sample_rate > 0):
        raise ValueError(f"sample_rate must be a positive int, got {sample_rate!r}")
    path = _as_path(path)
    info = check(path)
    resample = info.sample_rate != sample_rate
    # soxr resamples in float64 (the brief's float64-in/float32-out); without resampling float32 is exact
    # for 16-bit PCM (k / 32768) and halves the memory of long files.
    dtype = "float64" if resample else "float32"
    try:
        with _decoder_messages(path):
            x, rate = sf.read(path, dtype=dtype, always_2d=True)
    except sf.LibsndfileError as e:
        raise AudioError(path, _libsndfile_cause(e)) from e
    except (RuntimeError, OSError) as e:
        raise AudioError(path, f"unreadable ({_one_line(e)})") from e
    if x.shape[0] == 0:
        raise AudioError(path, "no audio samples")
    if x.shape[0] < info.frames:
        raise AudioError(path, f"truncated: {x.shape[0]} of {info.frames} declared frames decode")
    x = x[:, 0] if x.shape[1] == 1 else x.mean(axis=1, dtype=np.float64).astype(dtype)
    check_samples(x, path)
    if resample:
        x = soxr.resample(x, rate, sample_rate, quality="VHQ")
        if x.shape[0] == 0:
            raise AudioError(path, f"no audio samples left after resampling {rate} Hz -> {sample_rate} Hz")
    return np.ascontiguousarray(x, dtype=np.float32)


def check_samples(x: np.ndarray, path: str | os.PathLike) -> None:
    """Refuse samples the feature kernels cannot use: NaN, ±Inf, or |x| > MAX_ABS_SAMPLE.

    Args:
      x: float [n] (or any shape) samples, as read (before resampling).
      path: the file (or a name such as "<array>") the AudioError names.

    Raises:
      AudioError: "non-finite samples: ..." or "sample values out of range: ...", with counts and the
        first offending sample index.
    """
    x = np.asarray(x)
    finite = np.isfinite(x)
    if not finite.all():
        n_nan = int(np.isnan(x).sum())
        first = int(np.flatnonzero(~finite.ravel())[0])
        raise AudioError(path, f"non-finite samples ({n_nan} NaN, {x.size - int(finite.sum()) - n_nan} Inf; "
                               f"first at sample {first})")
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak > MAX_ABS_SAMPLE:
        first = int(np.flatnonzero(np.abs(x.ravel()) > MAX_ABS_SAMPLE)[0])
        raise AudioError(path, f"sample values out of range (peak |x| = {peak:.3g} at sample {first}, more than "
                               f"{MAX_ABS_SAMPLE:.0e} = 120 dB above full scale: corrupt or unscaled float audio)")


def from_array(x, *, sample_rate: int = SAMPLE_RATE, rate: int = SAMPLE_RATE, name: str = "<array>") -> np.ndarray:
    """Samples given as an array, as `load` gives a file: float32 mono [n] at `rate`.

    Args:
      x: [n], [n, channels] or [channels, n] (the short axis, at most MAX_CHANNELS long, is the channel axis;
        channels are averaged), float or integer PCM (scaled to [-1, 1] as soundfile reads it), or a sequence
        of numbers (converted with numpy first, never traced element by element).
      sample_rate: the rate of `x` in Hz; soxr (VHQ) resamples to `rate` when they differ.
      rate: the output rate (the feature rate).
      name: what the AudioError names.

    Raises:
      AudioError: bool, complex or non-numeric dtype; more than two axes or an ambiguous 2-D shape; no samples;
        non-finite or out-of-range samples (`check_samples`).
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
    if sample_rate != rate:
        if not (isinstance(sample_rate, (int, np.integer)) and sample_rate > 0):
            raise ValueError(f"sample_rate must be a positive int, got {sample_rate!r}")
        x = soxr.resample(x, sample_rate, rate, quality="VHQ")
    return np.ascontiguousarray(x, dtype=np.float32)


@contextlib.contextmanager
def _decoder_messages(path: pathlib.Path):
    """Divert what libsndfile's native decoders print on file descriptor 2 while they read `path` (libmpg123's
    "Note: Trying to resync..." on a damaged MP3, one screenful per bad file in a corpus scan) into the debug
    log: the file's problem reaches the user once, as an AudioError naming it."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no usable descriptor 2 (a daemon): nothing to divert
        yield
        return
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            text = sink.read().decode("utf-8", "replace").strip()
            if text:
                logging.debug("decoder messages reading %s: %s", path, " | ".join(text.splitlines()))


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


def _check_log(path: pathlib.Path, log: str) -> None:
    for declared, present in _SHORT_CHUNK.findall(log):
        if int(declared) == _STREAMED_SIZE:
            continue  # a streamed header: the size was unknown when it was written; libsndfile reads to the end
        if int(present) < int(declared):
            raise AudioError(path, f"truncated: the header declares {declared} data bytes, the file holds {present}")
    for marker in _ENDED_EARLY:
        if marker in log:
            line = next(line for line in log.splitlines() if marker in line)
            raise AudioError(path, f"truncated: {_one_line(line.strip(' *'))}")


def _check_ogg_end(path: pathlib.Path) -> None:
    """Refuse an Ogg file whose last page is cut or lacks the end-of-stream flag.

    libsndfile decodes a cut Ogg Vorbis/Opus stream up to its last whole page without an error (its log may
    or may not say so), so the container itself is checked: the last "OggS" page must fit in the file and be
    flagged end-of-stream.
    """
    size = path.stat().st_size
    with open(path, "rb") as f:
        f.seek(max(0, size - _OGG_TAIL_BYTES))
        tail = f.read()
    start = tail.rfind(b"OggS")
    while start >= 0:
        page = tail[start:]
        if len(page) >= 27 and page[4] == 0:  # version 0: a real page header, not "OggS" inside packet data
            n_segments = page[26]
            if len(page) >= 27 + n_segments:
                body = sum(page[27:27 + n_segments])
                if len(page) >= 27 + n_segments + body:
                    if not page[5] & _OGG_EOS:
                        raise AudioError(path, "truncated: the Ogg stream ends without its end-of-stream page")
                    return
            raise AudioError(path, f"truncated: the last Ogg page is cut ({len(page)} of its bytes present)")
        start = tail.rfind(b"OggS", 0, start)
    raise AudioError(path, "truncated or corrupt: no Ogg page found at the end of the file")


# libsndfile error numbers (sndfile.h / common.h): what each says about the file.
_NOT_AUDIO = {1}  # SFE_BAD_OPEN_FORMAT "Format not recognised."
# SFE_BAD_FILE "File does not exist or is not a regular file": what the MP3 decoder says of a regular file
# holding no MPEG stream (e.g. text named .mp3).
_NO_STREAM = {7}
_UNSUPPORTED = {4, 18, 92, 106, 110, 123}  # unsupported encoding, unimplemented format, unknown AU/IRCAM/NIST/8SVX codings


def _libsndfile_cause(e: sf.LibsndfileError) -> str:
    text = _one_line(e)
    code = getattr(e, "code", None)
    if code in _NOT_AUDIO:
        return "not an audio file (libsndfile does not recognise the format)"
    if code in _NO_STREAM:  # `check` has made sure the path is a regular, non-empty file
        return "not an audio file (no decodable audio stream: the decoder chosen by the extension rejects it)"
    if code in _UNSUPPORTED or "unsupported" in text.lower() or "unimplemented" in text.lower():
        return f"unsupported audio format ({text})"
    if "lost sync" in text.lower() or "end of file" in text.lower():
        return f"truncated or corrupt ({text})"
    return f"corrupt or truncated ({text})"


def _one_line(e: object) -> str:
    text = str(e)
    # soundfile prefixes messages with "Error opening '<path>': "; the path is in AudioError already.
    text = re.sub(r"^Error opening .*?: ", "", text)
    return " ".join(text.split()) or type(e).__name__
