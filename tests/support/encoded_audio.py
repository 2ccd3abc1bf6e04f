"""Compressed audio fixtures written with PyAV (FFmpeg's encoders), for the decoding tests: M4A (AAC, ALAC), MP3
with a LAME gapless header, Opus, WMA. Nothing here is committed audio: each test encodes into its tmp_path."""
from __future__ import annotations

import pathlib

import av
import numpy as np

# suffix -> (PyAV container format, codec, rate the codec needs or None)
FORMATS = {
    "aac.m4a": ("mp4", "aac", None),
    "alac.m4a": ("mp4", "alac", None),
    "mp3": ("mp3", "libmp3lame", None),
    "opus": ("ogg", "libopus", 48000),
    "opus.mp4": ("mp4", "libopus", 48000),
    "wma": ("asf", "wmav2", None),
}


def encode(path: pathlib.Path, x: np.ndarray, rate: int, codec: str, container: str, *,
           bit_rate: int | None = None, options: dict | None = None) -> pathlib.Path:
    """Encode float [n] or [n, channels] samples at `rate` Hz into `path`; returns `path`.

    Frames carry their sample positions as pts, so the muxer writes the encoder's delay and padding into the
    container (MP4 edit list, LAME header, Opus pre-skip), as any real encoder does. `options` go to the muxer
    (e.g. {"movflags": "faststart"}: the MP4 index first; {"write_xing": "0"}: an MP3 without a Xing header).
    """
    x = np.asarray(x, np.float32)
    planar = np.ascontiguousarray((x[:, None] if x.ndim == 1 else x).T)  # [channels, n]
    layout = {1: "mono", 2: "stereo"}[len(planar)]
    with av.open(str(path), "w", format=container, options=options or {}) as c:
        s = c.add_stream(codec, rate=rate, layout=layout)
        if bit_rate or codec.startswith("wma"):
            s.bit_rate = bit_rate or 128000
        cc = s.codec_context
        sample_fmt = cc.format.name if cc.format is not None else "fltp"
        resampler = av.AudioResampler(sample_fmt, layout, rate, frame_size=cc.frame_size or None)
        step = 4096
        for i in range(0, planar.shape[1], step):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(planar[:, i:i + step]), format="fltp",
                                               layout=layout)
            frame.sample_rate, frame.pts = rate, i
            for g in resampler.resample(frame):
                c.mux(s.encode(g))
        for g in resampler.resample(None):
            c.mux(s.encode(g))
        c.mux(s.encode(None))
    return path


def lame_header_samples(path: pathlib.Path) -> int | None:
    """Samples the LAME header of an MP3 declares: frames x 1152 - encoder delay - padding (None without one).

    The Xing/Info tag sits in the first frame: flags, then the fields they announce (frames, bytes, a 100-byte
    TOC, quality), then the LAME extension, whose delay and padding are two 12-bit fields at its byte 21 (after
    the 9-byte encoder string, "LAME3.100" or FFmpeg's "Lavc..."; LAME's "Mp3 Info Tag rev 1" specification).
    """
    data = pathlib.Path(path).read_bytes()[:65536]
    tag = max(data.find(b"Xing"), data.find(b"Info"))
    if tag < 0 or not data[tag + 7] & 1:  # flags: bit 0 = frame count present
        return None
    flags = data[tag + 7]
    frames = int.from_bytes(data[tag + 8:tag + 12], "big")
    ext = tag + 8 + 4 * (flags & 1) + 4 * (flags >> 1 & 1) + 100 * (flags >> 2 & 1) + 4 * (flags >> 3 & 1)
    d = data[ext + 21:ext + 24]
    delay, padding = (d[0] << 4) | (d[1] >> 4), ((d[1] & 15) << 8) | d[2]
    return frames * 1152 - delay - padding
