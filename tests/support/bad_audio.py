"""Bad and unusual audio files, written with soundfile or raw bytes, and the documented result of each (the table in
WORKSPACE.md "Bad and unusual audio"), for the suites of every path a user takes: test_audio (check / load),
test_dsp_features (the maps), test_extraction, test_launch_extract, test_launch_predict and test_inference.

`write_case(name, path)` writes one case; `write_corpus(root)` writes every case into a GTZAN-layout folder
(`root/genres/<genre>/<genre>.NNNNN.<ext>`, one track id per case) together with `GOOD` ordinary tracks, so one
extraction sees each bad file among good ones. Track ids are fixed (`TRACK_IDS`); the genres carry no meaning.

Every case that loads lasts `SECONDS` (4 s) at 22,050 Hz after loading and resampling, except the three length
cases, so the feature kernels compile for few lengths: 4 s, 2 s (shorter than a clip), 10 min.
"""
from __future__ import annotations

import pathlib
from typing import NamedTuple

import numpy as np
import soundfile as sf

SR = 22050
SECONDS = 4.0
N = int(SECONDS * SR)  # 88,200 samples
TEN_MINUTES = 600.0
SHORT_FRAME = 1000  # samples: less than one 1024-sample frame
SHORT_CLIP = 2 * SR  # 44,100 samples: 85 frames, less than one 128-frame clip (66,048 samples)
DC_LEVEL = 0.25


def tone(n: int, *, rate: int = SR, freq: float = 220.0, seed: int = 0, level: float = 0.3,
         noise: float = 0.01) -> np.ndarray:
    """Six harmonics of `freq` under a slow envelope, plus white noise: float64 [n] in (-1, 1).

    Every feature is non-trivial on it (pitched, level varying within 0.2-1 of its peak, noise above 1.5 kHz).
    """
    t = np.arange(n) / rate
    x = sum(np.sin(2 * np.pi * freq * h * t) / h for h in range(1, 7)) * (0.6 + 0.4 * np.cos(2 * np.pi * 0.5 * t))
    return level * x / 2.5 + noise * np.random.default_rng(seed).standard_normal(n)


def _write_sf(path, x, rate=SR, **kw):
    sf.write(path, x, rate, **kw)


def _empty(path):
    path.write_bytes(b"")


def _truncated(path):
    """A 16-bit WAV whose header declares 4 s but whose data stops after 1.5 s (a copy cut short)."""
    sf.write(path, tone(N), SR, subtype="PCM_16")
    data = path.read_bytes()
    path.write_bytes(data[: 44 + 2 * int(1.5 * SR)])


def _zeros(path):
    sf.write(path, np.zeros(N), SR, subtype="PCM_16")


def _nan(path):
    x = tone(N)
    x[[1000, 50_000]] = np.nan
    sf.write(path, x, SR, subtype="FLOAT")


def _inf(path):
    x = tone(N)
    x[30_000] = np.inf
    x[30_001] = -np.inf
    sf.write(path, x, SR, subtype="FLOAT")


def _huge(path):
    """32-bit float samples at 1e20: finite, but beyond what float32 features can square."""
    sf.write(path, 1e20 * tone(N), SR, subtype="FLOAT")


def _clipped(path):
    """A tone driven 20x into full-scale clipping, written as 16-bit (the clipped plateaux are ±32767)."""
    sf.write(path, np.clip(20 * tone(N), -1.0, 1.0), SR, subtype="PCM_16")


def _dc(path):
    sf.write(path, np.full(N, DC_LEVEL), SR, subtype="PCM_16")


def _pcm_u8(path):
    sf.write(path, tone(N), SR, subtype="PCM_U8")


def _pcm_24(path):
    sf.write(path, tone(N), SR, subtype="PCM_24")


def _float32(path):
    """32-bit float with samples beyond ±1 (float files may exceed full scale; nothing is clipped)."""
    sf.write(path, 4.0 * tone(N), SR, subtype="FLOAT")


def _rate_8k(path):
    """The noiseless tone (partials up to 1,320 Hz, all below 4 kHz) at 8 kHz: resampled, it is the 22,050 Hz tone."""
    sf.write(path, tone(int(SECONDS * 8000), rate=8000, noise=0.0), 8000, subtype="PCM_16")


def _rate_96k(path):
    sf.write(path, tone(int(SECONDS * 96000), rate=96000, noise=0.0), 96000, subtype="PCM_24")


def six_channel_data() -> np.ndarray:
    """float64 [N, 6]: the tone at six levels, two channels in opposite phase (5.1-like)."""
    x = tone(N)
    return np.stack([x, 0.5 * x, -0.5 * x, 0.25 * x, 0.1 * x, x], axis=1)


def _six_channels(path):
    sf.write(path, six_channel_data(), SR, subtype="PCM_16")


def _short_frame(path):
    sf.write(path, tone(SHORT_FRAME), SR, subtype="PCM_16")


def _short_clip(path):
    sf.write(path, tone(SHORT_CLIP), SR, subtype="PCM_16")


def _ten_minutes(path):
    sf.write(path, tone(int(TEN_MINUTES * SR), freq=330.0), SR, subtype="PCM_16")


def _flac_named_wav(path):
    sf.write(path, tone(N), SR, format="FLAC", subtype="PCM_16")


def _rate_1hz(path):
    """A header declaring 1 Hz over 200,000 samples (issue 26): resampled, 4.4e9 samples at 22,050 Hz."""
    sf.write(path, tone(200_000, noise=0.0), 1, subtype="PCM_16")


def _text_named_au(path):
    path.write_text("liner notes, not audio, under a GTZAN track name\n" * 40)


def _directory(path):
    path.mkdir()
    (path / "inside.txt").write_text("a folder named like a track\n")


# case -> (file extension, writer). Order: the list, then `huge` (a float file out of range), then
# `rate_1hz` (issue 26: a header rate that cannot be audio).
CASES = {
    "empty": ("wav", _empty),
    "truncated": ("wav", _truncated),
    "zeros": ("wav", _zeros),
    "nan": ("wav", _nan),
    "inf": ("wav", _inf),
    "clipped": ("wav", _clipped),
    "dc": ("wav", _dc),
    "pcm_u8": ("wav", _pcm_u8),
    "pcm_24": ("wav", _pcm_24),
    "float32": ("wav", _float32),
    "rate_8k": ("wav", _rate_8k),
    "rate_96k": ("wav", _rate_96k),
    "six_channels": ("wav", _six_channels),
    "short_frame": ("wav", _short_frame),
    "short_clip": ("wav", _short_clip),
    "ten_minutes": ("wav", _ten_minutes),
    "flac_named_wav": ("wav", _flac_named_wav),
    "text_named_au": ("au", _text_named_au),
    "directory": ("wav", _directory),
    "huge": ("wav", _huge),
    "rate_1hz": ("wav", _rate_1hz),
}
GENRE_OF = {name: ("blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock")[i % 10]
            for i, name in enumerate(CASES)}
TRACK_IDS = {name: f"{GENRE_OF[name]}.{100 + i:05d}" for i, name in enumerate(CASES)}
GOOD = {"good_a": "blues.00000", "good_b": "rock.00001"}  # ordinary 4 s 16-bit tracks


def write_case(name: str, path: str | pathlib.Path) -> pathlib.Path:
    """Write case `name` at `path` (its extension is the caller's choice) and return the path."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    CASES[name][1](path)
    return path


def corpus_path(root: str | pathlib.Path, name: str) -> pathlib.Path:
    """Where `write_corpus(root)` puts case `name` (or a GOOD track)."""
    track = GOOD.get(name) or TRACK_IDS[name]
    genre = track.split(".")[0]
    ext = CASES[name][0] if name in CASES else "wav"
    return pathlib.Path(root) / "genres" / genre / f"{track}.{ext}"


def write_corpus(root: str | pathlib.Path, cases=None) -> dict[str, pathlib.Path]:
    """Every case (or `cases`) and the GOOD tracks in a GTZAN layout under `root`: name -> path."""
    paths = {}
    for i, name in enumerate(GOOD):
        paths[name] = corpus_path(root, name)
        paths[name].parent.mkdir(parents=True, exist_ok=True)
        sf.write(paths[name], tone(N, freq=180.0 + 70 * i, seed=10 + i), SR, subtype="PCM_16")
    for name in cases or CASES:
        paths[name] = write_case(name, corpus_path(root, name))
    return paths


# ------------------------------------------------------------------------------------- documented results


class Refused(NamedTuple):
    cause: str  # start of the AudioError's cause
    by_check: bool  # the header-level audio.check already refuses it (else only the full decode of load)


REFUSED = {
    "empty": Refused("empty file (0 bytes)", True),
    "truncated": Refused("truncated: the header declares 176400 data bytes, the file holds 66150", True),
    "nan": Refused("non-finite samples (2 NaN, 0 Inf; first at sample 1000)", False),
    "inf": Refused("non-finite samples (0 NaN, 2 Inf; first at sample 30000)", False),
    "huge": Refused("sample values out of range (peak |x| = ", False),
    "text_named_au": Refused("not an audio file (no audio header; libsndfile would guess headerless 8000 Hz ULAW "
                             "from the .au extension)", True),
    "directory": Refused("is a directory, not an audio file", True),
    "rate_1hz": Refused("sample rate 1 Hz cannot be audio (accepted: 1000 to 1000000 Hz)", True),
}
# Content warnings of the cases that load (issue 26); rate_8k and rate_96k hold the noiseless tone, whose partials
# all lie below 1,320 Hz: "band-limited" is what it is, whatever the rate.
WARNED = {"zeros": "silent: silence", "dc": "silent: DC only (mean 0.25)",
          "rate_8k": "band-limited: nothing above 4 kHz", "rate_96k": "band-limited: nothing above 4 kHz"}
LENGTH = {"short_frame": SHORT_FRAME, "short_clip": SHORT_CLIP, "ten_minutes": int(TEN_MINUTES * SR)}
LOADS = [c for c in CASES if c not in REFUSED]  # read as float32 mono at 22,050 Hz
HEADER = {  # case -> (rate, channels, subtype) that audio.check reports
    "zeros": (SR, 1, "PCM_16"), "clipped": (SR, 1, "PCM_16"), "dc": (SR, 1, "PCM_16"), "pcm_u8": (SR, 1, "PCM_U8"),
    "pcm_24": (SR, 1, "PCM_24"), "float32": (SR, 1, "FLOAT"), "rate_8k": (8000, 1, "PCM_16"),
    "rate_96k": (96000, 1, "PCM_24"), "six_channels": (SR, 6, "PCM_16"), "short_frame": (SR, 1, "PCM_16"),
    "short_clip": (SR, 1, "PCM_16"), "ten_minutes": (SR, 1, "PCM_16"), "flac_named_wav": (SR, 1, "PCM_16"),
}
TOO_SHORT_TO_EXTRACT = "too short: 1000 samples at 22050 Hz, less than one 1024-sample frame"
NOT_A_TRACK_FOLDER = "a folder inside a genre folder (expected audio files)"
LSB16 = 1 / 32768


def track_id(name: str) -> str:
    """The track id of a case or GOOD track in `write_corpus`'s folder."""
    return GOOD.get(name) or TRACK_IDS[name]
