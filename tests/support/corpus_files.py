"""Labelled corpora written into tmp dirs: short synthetic tones under free file names, the issue's "my music"
folder (three classes, odd names, junk beside the tracks) and CSV manifests; for test_folder, test_sources,
test_manifest, test_folds and test_corpus."""
from __future__ import annotations

import pathlib

import numpy as np
import soundfile as sf

SECONDS = 4.0  # 170 frames: one 128-frame clip


def tone_file(path: pathlib.Path, seed: int = 0, seconds: float = SECONDS) -> pathlib.Path:
    """A 16-bit WAV sine (220 + 20 seed Hz) of `seconds` at `path`, parent folders made."""
    path.parent.mkdir(parents=True, exist_ok=True)
    n = int(seconds * 22050)
    x = 0.1 * np.sin(2 * np.pi * (220 + 20 * seed) * np.arange(n) / 22050)
    sf.write(path, x, 22050, format="WAV", subtype="PCM_16")  # format given: the extension may be .WAV
    return path


# The issue's names, then enough tracks per class for three stratified folds.
ISSUE_FILES = ("Acoustic/live sets/take 1 (final).wav", "Electric/Track_1.WAV", "Beats/beat-1.wav")
MORE_FILES = ("Acoustic/studio/Été 2.flac", "Acoustic/a_b.wav", "Acoustic/a b.wav",
              "Electric/Track_2.wav", "Electric/deep/er/Track 3.Wav", "Electric/x (1).wav",
              "Beats/beat-2.wav", "Beats/beat-3.wav", "Beats/BEAT-4.WAV")
CLASSES = ("Acoustic", "Beats", "Electric")


def my_music(tmp_path: pathlib.Path) -> pathlib.Path:
    """`tmp_path/my music/<class>/...`: ISSUE_FILES and MORE_FILES, plus files that are not tracks."""
    root = tmp_path / "my music"
    for i, rel in enumerate(ISSUE_FILES + MORE_FILES):
        tone_file(root / rel, seed=i)
    (root / "Acoustic" / "cover.jpg").write_bytes(b"\xff\xd8 not audio")
    (root / "Beats" / ".DS_Store").write_bytes(b"\0" * 8)  # hidden: ignored silently
    (root / "Beats" / "broken.wav").write_bytes(b"")  # unreadable: reported, skipped
    (root / "Notes").mkdir()
    (root / "Notes" / "readme.txt").write_text("not a class")
    (root / "loose.wav").write_bytes((root / "Beats" / "beat-1.wav").read_bytes())
    return root


def write_manifest(path: pathlib.Path, text: str) -> pathlib.Path:
    """`text` written as UTF-8 at `path`, parent folders made."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
