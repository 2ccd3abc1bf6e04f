"""Audio input: any file libsndfile reads, as float32 mono at the feature sample rate.

`load(path)` reads wav, flac, ogg, aiff, Sun/NeXT `.au` (GTZAN's format) and mp3 (libsndfile >= 1.1)
through `soundfile`, mixes down to mono (mean of the channels, so the level stays in [-1, 1]) and
resamples with soxr (VHQ) when the file's rate differs. No centring, no normalisation: MIRToolbox's
`miraudio` defaults (FEATURES_SPEC §0).

`check(path)` is the cheap header-level test used while scanning a corpus: it opens the file, reads
libsndfile's header log for data chunks shorter than declared, and decodes the last few frames, so
a truncated or corrupt file is found without decoding all of it.

Every failure is an `AudioError(path, cause)` with one of the causes below.
"""
from __future__ import annotations

import os
import pathlib
import re
from typing import NamedTuple

import numpy as np
import soundfile as sf
import soxr

from mgc_jax.errors import AudioError

SAMPLE_RATE = 22050  # Hz, the rate of every feature map (FeatureConfig.sample_rate)
_TAIL_FRAMES = 4096  # frames decoded at the end of a file by `check` (enough to cross a FLAC/MP3/Vorbis block)

# libsndfile's header log says "data : 44100 (should be 22028)" (WAV), "Data Size : N (should be M)"
# (AU), "SSND : N (should be M)" (AIFF) when a file holds fewer bytes than its header declares.
_SHORT_CHUNK = re.compile(r"(?:\bdata|Data Size|SSND)\s*:\s*(\d+)\s*\(should be (\d+)\)")
_ENDED_EARLY = ("ended unexpectedly", "> file length")


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
      AudioError: missing, not a regular file, empty, not audio, unsupported format, truncated
        (data shorter than the header declares, or the last frames do not decode), or no samples.
    """
    path = pathlib.Path(path)
    _check_file(path)
    try:
        f = sf.SoundFile(path)
    except sf.LibsndfileError as e:
        raise AudioError(path, _libsndfile_cause(e)) from e
    except (RuntimeError, OSError) as e:  # soundfile raises RuntimeError for some decoder failures
        raise AudioError(path, f"unreadable ({_one_line(e)})") from e
    with f:
        info = AudioInfo(f.samplerate, f.channels, f.frames, f.format, f.subtype)
        _check_log(path, f.extra_info)
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
        or non-finite samples; the message names the file and the cause.
    """
    if not (isinstance(sample_rate, (int, np.integer)) and sample_rate > 0):
        raise ValueError(f"sample_rate must be a positive int, got {sample_rate!r}")
    path = pathlib.Path(path)
    info = check(path)
    resample = info.sample_rate != sample_rate
    # soxr resamples in float64 (the brief's float64-in/float32-out); without resampling float32 is exact
    # for 16-bit PCM (k / 32768) and halves the memory of long files.
    dtype = "float64" if resample else "float32"
    try:
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
    if not np.isfinite(x).all():
        raise AudioError(path, f"non-finite samples ({int((~np.isfinite(x)).sum())} NaN or Inf)")
    if resample:
        x = soxr.resample(x, rate, sample_rate, quality="VHQ")
        if x.shape[0] == 0:
            raise AudioError(path, f"no audio samples left after resampling {rate} Hz -> {sample_rate} Hz")
    return np.ascontiguousarray(x, dtype=np.float32)


def _check_file(path: pathlib.Path) -> None:
    if not path.exists():
        raise AudioError(path, "no such file")
    if path.is_dir():
        raise AudioError(path, "is a directory, not an audio file")
    if not path.is_file():
        raise AudioError(path, "not a regular file")
    if path.stat().st_size == 0:
        raise AudioError(path, "empty file (0 bytes)")


def _check_log(path: pathlib.Path, log: str) -> None:
    for declared, present in _SHORT_CHUNK.findall(log):
        if int(present) < int(declared):
            raise AudioError(path, f"truncated: the header declares {declared} data bytes, the file holds {present}")
    for marker in _ENDED_EARLY:
        if marker in log:
            line = next(line for line in log.splitlines() if marker in line)
            raise AudioError(path, f"truncated: {_one_line(line.strip(' *'))}")


# libsndfile error numbers (sndfile.h / common.h): what each says about the file.
_NOT_AUDIO = {1}  # SFE_BAD_OPEN_FORMAT "Format not recognised."
_UNSUPPORTED = {4, 18, 92, 106, 110, 123}  # unsupported encoding, unimplemented format, unknown AU/IRCAM/NIST/8SVX codings


def _libsndfile_cause(e: sf.LibsndfileError) -> str:
    text = _one_line(e)
    code = getattr(e, "code", None)
    if code in _NOT_AUDIO:
        return "not an audio file (libsndfile does not recognise the format)"
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
