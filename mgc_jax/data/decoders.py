"""The two decoders behind `mgc_jax.data.audio`: libsndfile (soundfile) and FFmpeg (PyAV), each read in blocks.

A `Source` is an opened file: its header (rate, channels, declared frames) and `blocks()`, float32 [b, channels]
blocks of every sample in order. Truncation is judged from what the decoder itself reports while it reads: a
libsndfile header log of short data chunks, fewer frames than an exact header declares, a cut last Ogg page; for
FFmpeg a demuxer error or corrupt packet, fewer packets than an MP4 sample table lists, or an MP3 frame shorter
than its own header says. libsndfile's frame count of an MP3 is an estimate from the file size and never used.
"""
from __future__ import annotations

import contextlib
import os
import pathlib
import re
import sys
import tempfile
import threading
from typing import Iterator

import av
import av.logging
import numpy as np
import soundfile as sf
from absl import logging

from mgc_jax.errors import AudioError

BLOCK = 1 << 16  # frames per block handed to the caller: big enough that per-block numpy costs vanish
# libsndfile major formats that FFmpeg decodes instead, chosen by benchmarks/decode_formats.md: FFmpeg decodes
# Ogg Vorbis 2x and Opus 3x faster, and its whole MP3 path (decode, mono, resample) is faster too; libsndfile's
# MP3 frame count is an estimate, while FFmpeg's demuxer reports a cut last frame (a packet shorter than its
# header says) that libmpg123 drops without a word. Both trim the LAME header's encoder delay and padding.
FFMPEG_FORMATS = frozenset({"MP3", "OGG"})
_INEXACT = frozenset({"MP3", "OGG"})  # libsndfile frame counts that are estimates (the rest are header fields)
_TAIL_FRAMES = 4096  # frames decoded at the end of a file by the probe (enough to cross a FLAC/Vorbis block)

# libsndfile's header log says "data : 44100 (should be 22028)" (WAV), "Data Size : N (should be M)"
# (AU), "SSND : N (should be M)" (AIFF) when a file holds fewer bytes than its header declares.
_SHORT_CHUNK = re.compile(r"(?:\bdata|Data Size|SSND)\s*:\s*(\d+)\s*\(should be (\d+)\)")
_ENDED_EARLY = ("ended unexpectedly", "> file length")
_STREAMED_SIZE = 0xFFFFFFFF  # a WAV/AU data size meaning "unknown length" (a streamed header), not a size
_OGG_EOS = 0x04  # header_type flag of an Ogg page: last page of its logical stream
_OGG_TAIL_BYTES = 1 << 17  # the last Ogg page is at most ~64 KiB; read twice that from the end

_AVERROR_INVALIDDATA = 1094995529  # AVERROR_INVALIDDATA as PyAV reports it (e.errno)
# FFmpeg reports through its log; a level makes PyAV pass messages on, and each decode captures its own thread's.
av.logging.set_level(av.logging.ERROR)


class Source:
    """An opened audio file. Attributes: sample_rate (Hz), channels, frames (declared; an estimate unless
    `exact`), exact, major and subtype (libsndfile's "WAV" "PCM_16", or FFmpeg's container and codec, "mp3"
    "mp3float"), decoder ("libsndfile" or "ffmpeg"), is_float (stored as floating point: values beyond +-1
    possible)."""

    sample_rate: int
    channels: int
    frames: int
    exact: bool
    major: str
    subtype: str
    decoder: str
    is_float: bool

    @property
    def format(self) -> str:
        return f"{self.major} {self.subtype}"

    def blocks(self) -> Iterator[np.ndarray]:
        """Every sample in order, as float32 [channels, b] blocks (b <= 2 * BLOCK); AudioError when the decoder
        reports a cut or corrupt file."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


def open_source(path: pathlib.Path) -> Source:
    """libsndfile when it reads the file (it sniffs the content, not the extension), else FFmpeg."""
    try:
        f = sf.SoundFile(path)
    except sf.LibsndfileError as e:
        if e.code in _NOT_AUDIO or e.code in _NO_STREAM:
            return _FFmpegSource(path, _libsndfile_cause(e))
        raise AudioError(path, _libsndfile_cause(e)) from e
    except (RuntimeError, OSError) as e:  # soundfile raises RuntimeError for some decoder failures
        raise AudioError(path, f"unreadable ({one_line(e)})") from e
    except TypeError as e:  # soundfile's "samplerate must be specified": a `.raw` name, headerless by definition
        raise AudioError(path, f"not an audio file (headerless raw data: {one_line(e)})") from e
    if f.format in FFMPEG_FORMATS:
        f.close()
        return _FFmpegSource(path, None)
    return _SndfileSource(path, f)


class _SndfileSource(Source):
    decoder = "libsndfile"

    def __init__(self, path: pathlib.Path, f: sf.SoundFile):
        self.path, self.f = path, f
        self.sample_rate, self.channels, self.frames = f.samplerate, f.channels, f.frames
        self.major, self.subtype, self.exact = f.format, f.subtype, f.format not in _INEXACT
        self.is_float = f.subtype in ("FLOAT", "DOUBLE")
        try:
            if f.format == "RAW":
                # libsndfile found no header and guessed a headerless format from the extension alone
                # (.au/.snd: 8 kHz mu-law, .vox: ADPCM, .gsm: GSM 6.10): any bytes would "decode" as noise.
                raise AudioError(path, f"not an audio file (no audio header; libsndfile would guess headerless "
                                       f"{f.samplerate} Hz {f.subtype} from the .{path.suffix[1:]} extension)")
            _check_log(path, f.extra_info)
            if f.frames <= 0:
                raise AudioError(path, "no audio samples (the header declares 0 frames)")
        except BaseException:
            f.close()
            raise

    def probe_tail(self) -> None:
        """Decode the last frames only: a cut FLAC/WAV stream fails here without a full decode."""
        if not self.f.seekable():
            return
        try:
            self.f.seek(max(0, self.frames - _TAIL_FRAMES))
            tail = self.f.read(_TAIL_FRAMES, dtype="float32", always_2d=True)
        except (RuntimeError, OSError) as e:  # LibsndfileError is a RuntimeError
            raise AudioError(self.path, f"truncated or corrupt: the end of the file does not decode ({one_line(e)})")
        if len(tail) < min(self.frames, _TAIL_FRAMES):
            raise AudioError(self.path, f"truncated: the last of the {self.frames} declared frames do not decode")

    def blocks(self) -> Iterator[np.ndarray]:
        n = 0
        try:
            while True:
                b = self.f.read(BLOCK, dtype="float32", always_2d=True)
                if not len(b):
                    break
                n += len(b)
                yield b.T
        except sf.LibsndfileError as e:
            raise AudioError(self.path, _libsndfile_cause(e)) from e
        except (RuntimeError, OSError) as e:
            raise AudioError(self.path, f"unreadable ({one_line(e)})") from e
        if self.exact and n < self.frames:
            raise AudioError(self.path, f"truncated: {n} of {self.frames} declared frames decode")


    def close(self) -> None:
        self.f.close()


class _FFmpegSource(Source):
    decoder = "ffmpeg"

    def __init__(self, path: pathlib.Path, sndfile_cause: str | None):
        self.path = path
        with av.logging.Capture() as log:
            try:
                self.c = av.open(os.fspath(path), metadata_errors="ignore")
            except av.FFmpegError as e:
                said = [(name, m.strip()) for _, name, m in log if m.strip()]
                if sndfile_cause and not (said and e.errno == _AVERROR_INVALIDDATA and sndfile_cause.startswith(
                        "not an audio file (neither")):
                    raise AudioError(path, sndfile_cause) from None
                if said:  # a reader took the file for its format and failed: a cut M4A lacks its index ("moov")
                    reader = said[-1][0].split(",")[0]
                    raise AudioError(path, f"not an audio file, or a damaged one (FFmpeg's {reader} reader: "
                                           f"{one_line(said[-1][1])})") from None
                raise AudioError(path, sndfile_cause or _ffmpeg_cause(e, log, "corrupt or truncated")) from None
            except (OSError, UnicodeDecodeError) as e:
                raise AudioError(path, f"unreadable ({one_line(e)})") from e
        if not self.c.streams.audio:
            names = ", ".join(s.type for s in self.c.streams) or "no streams"
            self.c.close()
            raise AudioError(path, sndfile_cause or f"not an audio file (FFmpeg reads it as {self.c.format.name}: "
                                                   f"{names})")
        if self.c.format.name == "ogg":
            try:
                _check_ogg_end(path)
            except AudioError:
                self.c.close()
                raise
        self.s = self.c.streams.audio[0]
        cc = self.s.codec_context
        self.sample_rate, self.channels = cc.sample_rate, cc.channels
        self.container = self.c.format.name
        self.major, self.subtype = self.container.split(",")[0], cc.name
        self.is_float = cc.format is not None and cc.format.name.startswith(("flt", "dbl")) and cc.name.startswith(
            ("pcm_f", "pcm_d"))  # lossy decoders output float, but their samples stay near +-1
        # MP4/MOV list every packet in their sample table (stream.frames): a count to check, not an estimate.
        self.mp4 = "mp4" in self.container or "mov" in self.container
        self.exact = self.mp4 and self.s.frames > 0 and self.s.duration is not None
        tb = self.s.time_base
        dur = self.s.duration if self.s.duration is not None else (
            self.c.duration * self.sample_rate / 1e6 if self.c.duration else 0)
        self.frames = int(round(float(dur * tb * self.sample_rate))) if self.s.duration is not None else int(dur)
        if self.sample_rate <= 0 or self.channels <= 0:
            self.c.close()
            raise AudioError(path, f"unsupported audio stream ({self.format}: {self.sample_rate} Hz, "
                                   f"{self.channels} channels)")

    def probe_tail(self) -> None:
        """Demux (no decode) the last seconds: a cut last packet or a demuxer error means a cut file."""
        with av.logging.Capture() as log:
            try:
                if self.c.duration and self.c.duration > 4_000_000:
                    self.c.seek(self.c.duration - 3_000_000, any_frame=False)  # AV_TIME_BASE (us)
                for pk in self.c.demux(self.s):
                    if pk.size:
                        self._check_packet(pk)
            except av.FFmpegError as e:
                raise AudioError(self.path, _ffmpeg_cause(e, log, "truncated or corrupt")) from None

    def _check_packet(self, pk) -> None:
        if pk.is_corrupt:
            raise AudioError(self.path, f"truncated or corrupt: FFmpeg flags the packet at "
                                        f"{float(pk.pts * pk.time_base) if pk.pts is not None else '?'} s corrupt")
        if self.s.codec_context.name.startswith("mp3"):
            head = bytes(pk)[:4]
            want = mp3_frame_bytes(int.from_bytes(head, "big")) if len(head) == 4 else None
            if want is not None and pk.size < want:
                raise AudioError(self.path, f"truncated: the last MP3 frame is cut ({pk.size} of its {want} bytes)")

    def blocks(self) -> Iterator[np.ndarray]:
        fifo, resampler = av.AudioFifo(), None
        n_packets, last, first, last_samples, total = 0, None, None, 0, 0
        decode = self.s.codec_context.decode
        with av.logging.Capture() as log:
            try:
                # Per-packet work is kept minimal (a 1-minute MP3 has 2,300 packets): only the last packet's
                # length and end time matter, and the corrupt flag FFmpeg sets on a packet cut by the file's end.
                for pk in self.c.demux(self.s):
                    if pk.is_corrupt:
                        self._check_packet(pk)
                    if pk.size:
                        n_packets += 1
                        last = pk
                    for fr in decode(pk):
                        if first is None:
                            first = fr.pts * fr.time_base if fr.pts is not None else 0
                            if fr.format.name != "fltp":  # swr converts the sample type exactly (k / 2^15 ...)
                                resampler = av.AudioResampler("fltp", fr.layout, fr.sample_rate)
                        last_samples = fr.samples
                        fr.pts = None
                        if resampler is None:
                            fifo.write(fr)
                        else:
                            for g in resampler.resample(fr):
                                g.pts = None
                                fifo.write(g)
                        # Keep one block back: the end trim below may cut the last decoded frame.
                        if fifo.samples >= 2 * BLOCK:
                            b = fifo.read(BLOCK).to_ndarray()
                            total += b.shape[1]
                            yield b
                if last is not None:
                    self._check_packet(last)
            except av.FFmpegError as e:
                raise AudioError(self.path, _ffmpeg_cause(e, log, "truncated or corrupt")) from None
            except ValueError as e:  # AudioFifo: the format or layout changed mid-stream
                raise AudioError(self.path, f"unsupported audio stream ({one_line(e)})") from None
        if self.exact and n_packets < self.s.frames:
            raise AudioError(self.path, f"truncated: {n_packets} of the {self.s.frames} packets the MP4 sample "
                                        f"table lists are in the file")
        keep = fifo.samples
        if self.mp4 and last is not None and last.pts is not None and last.duration and first is not None:
            # The sample table gives the last packet's true duration (the encoder's padding excluded); FFmpeg
            # trims the priming samples at the start (edit list) but decodes the last frame whole.
            end = (last.pts + last.duration) * self.s.time_base
            want = int(round(float(end - first) * self.sample_rate)) - total
            if 0 <= keep - want < max(last_samples, 1):
                keep = want
        while fifo.samples:
            b = fifo.read(min(BLOCK, fifo.samples)).to_ndarray()[:, :keep]
            keep -= b.shape[1]
            if b.shape[1]:
                yield b

    def close(self) -> None:
        self.c.close()


# bitrate in kbit/s by (MPEG-1?, layer) and sample rate by version bits (ISO 11172-3 / 13818-3 frame header)
_MP3_KBPS = {
    (True, 1): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (True, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (True, 3): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (False, 1): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (False, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_MP3_KBPS[(False, 3)] = _MP3_KBPS[(False, 2)]
_MP3_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def mp3_frame_bytes(h: int) -> int | None:
    """Length in bytes of the MPEG audio frame whose 4-byte header is `h`; None if `h` is no header (or free
    format, whose length the header does not give)."""
    version, layer = (h >> 19) & 3, 4 - ((h >> 17) & 3)
    bitrate_index, rate_index, padding = (h >> 12) & 15, (h >> 10) & 3, (h >> 9) & 1
    if h >> 21 != 0x7FF or version == 1 or layer == 4 or bitrate_index in (0, 15) or rate_index == 3:
        return None
    mpeg1 = version == 3
    bitrate = _MP3_KBPS[(mpeg1, layer)][bitrate_index] * 1000
    rate = _MP3_RATES[version][rate_index]
    if layer == 1:
        return (12 * bitrate // rate + padding) * 4
    return (72 if layer == 3 and not mpeg1 else 144) * bitrate // rate + padding


@contextlib.contextmanager
def decoder_messages(path: pathlib.Path):
    """Divert what libsndfile's native decoders print on file descriptor 2 (libmpg123's "Note: Trying to
    resync..." on a damaged MP3, one screenful per bad file in a corpus scan) into the debug log: the file's
    problem reaches the user once, as an AudioError naming it. Descriptor 2 is one per process, so concurrent
    decodes (extraction's worker threads) share one diversion: the first in diverts, the last out restores."""
    with _DIVERT_LOCK:
        if _DIVERT["depth"] == 0:
            try:
                sys.stderr.flush()
                _DIVERT["saved"] = os.dup(2)
            except (OSError, ValueError):  # no usable descriptor 2 (a daemon): nothing to divert
                _DIVERT["saved"] = None
            if _DIVERT["saved"] is not None:
                _DIVERT["sink"] = tempfile.TemporaryFile()
                os.dup2(_DIVERT["sink"].fileno(), 2)
        _DIVERT["depth"] += 1
    try:
        yield
    finally:
        with _DIVERT_LOCK:
            _DIVERT["depth"] -= 1
            if _DIVERT["depth"] == 0 and _DIVERT["saved"] is not None:
                os.dup2(_DIVERT["saved"], 2)
                os.close(_DIVERT["saved"])
                sink = _DIVERT.pop("sink")
                sink.seek(0)
                text = sink.read().decode("utf-8", "replace").strip()
                sink.close()
                if text:
                    logging.debug("decoder messages reading %s: %s", path, " | ".join(text.splitlines()))


_DIVERT_LOCK = threading.Lock()
_DIVERT: dict = {"depth": 0, "saved": None}


def _check_log(path: pathlib.Path, log: str) -> None:
    for declared, present in _SHORT_CHUNK.findall(log):
        if int(declared) == _STREAMED_SIZE:
            continue  # a streamed header: the size was unknown when it was written; libsndfile reads to the end
        if int(present) < int(declared):
            raise AudioError(path, f"truncated: the header declares {declared} data bytes, the file holds {present}")
    for marker in _ENDED_EARLY:
        if marker in log:
            line = next(line for line in log.splitlines() if marker in line)
            raise AudioError(path, f"truncated: {one_line(line.strip(' *'))}")


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
    text = one_line(e)
    code = getattr(e, "code", None)
    if code in _NOT_AUDIO:
        return "not an audio file (neither libsndfile nor FFmpeg recognises the format)"
    if code in _NO_STREAM:  # the caller has made sure the path is a regular, non-empty file
        return "not an audio file (no decodable audio stream: the decoder chosen by the extension rejects it)"
    if code in _UNSUPPORTED or "unsupported" in text.lower() or "unimplemented" in text.lower():
        return f"unsupported audio format ({text})"
    if "lost sync" in text.lower() or "end of file" in text.lower():
        return f"truncated or corrupt ({text})"
    return f"corrupt or truncated ({text})"


def _ffmpeg_cause(e: Exception, log, what: str) -> str:
    """One line from an FFmpeg error and the messages FFmpeg logged on this thread meanwhile."""
    said = [m.strip() for _, _, m in log if m.strip()]
    detail = said[-1] if said else getattr(e, "strerror", None) or one_line(e)
    return f"{what} (FFmpeg: {one_line(detail)})"


def one_line(e: object) -> str:
    text = str(e)
    # soundfile prefixes messages with "Error opening '<path>': "; the path is in AudioError already.
    text = re.sub(r"^Error opening .*?: ", "", text)
    return " ".join(text.split()) or type(e).__name__
