"""A small GTZAN-layout folder mixing good and bad files, shared by test_gtzan and test_launch_extract.

Good: a GTZAN `.au` (the first seconds of a real dev clip when ../shared/gtzan_dev is present, else a
synthetic track written as 16-bit `.au`), a 44.1 kHz stereo WAV, and a 22,050 Hz FLAC.
Bad: a truncated WAV, an empty file and a text file named like a track (jazz.00054, the clip that is
corrupt in a widespread GTZAN copy). Tracks last `seconds` (8 s: one key-clarity window, fast to extract).
"""
from __future__ import annotations

import pathlib

import numpy as np
import soundfile as sf

from mgc_jax.data import synthetic

GOOD = ("blues.00000", "classical.00000", "country.00003")
BAD = {  # track file -> expected start of its cause
    "disco/disco.00001.wav": "truncated",
    "hiphop/hiphop.00002.wav": "empty file",
    "jazz/jazz.00054.wav": "not an audio file",
}


def shared_or_none() -> pathlib.Path | None:
    """../shared when its GTZAN dev clips are there (a real .au), else None (a synthetic .au is written)."""
    from conftest import SHARED

    return SHARED if (SHARED / "gtzan_dev").is_dir() else None


def make(root: pathlib.Path, shared: pathlib.Path | None = None, seconds: float = 8.0) -> pathlib.Path:
    """Write the folder under `root/genres/` and return `root`."""
    base = root / "genres"
    for genre in ("blues", "classical", "country", "disco", "hiphop", "jazz"):
        (base / genre).mkdir(parents=True, exist_ok=True)
    n = int(seconds * 22050)
    clip = shared / "gtzan_dev" / "blues" / "blues.00000.au" if shared is not None else None
    if clip is not None and clip.exists():
        x, _ = sf.read(clip, frames=n, dtype="int16")
    else:
        x = np.round(synthetic.render_track("blues", 0, n_samples=n) * 32767).astype(np.int16)
    sf.write(base / "blues" / "blues.00000.au", x, 22050, format="AU", subtype="PCM_16")

    m = int(seconds * 44100)
    left = synthetic.render_track("classical", 0, n_samples=m)  # rendered at 22,050 Hz: only the rate differs
    right = synthetic.render_track("classical", 1, n_samples=m)
    sf.write(base / "classical" / "classical.00000.wav", np.stack([left, right], 1), 44100, subtype="PCM_16")
    sf.write(base / "country" / "country.00003.flac", synthetic.render_track("country", 3, n_samples=n), 22050)

    sf.write(base / "disco" / "disco.00001.wav", synthetic.render_track("disco", 1, n_samples=n), 22050)
    data = (base / "disco" / "disco.00001.wav").read_bytes()
    (base / "disco" / "disco.00001.wav").write_bytes(data[: len(data) // 3])
    (base / "hiphop" / "hiphop.00002.wav").write_bytes(b"")
    (base / "jazz" / "jazz.00054.wav").write_text("liner notes, not audio, under a track name\n" * 50)
    return root
