"""Labelled corpora written into tmp dirs: short synthetic tones under free file names, the issue's "my music"
folder (three classes, odd names, junk beside the tracks), CSV manifests, and a folder of the same classes whose
tracks sound like three synthetic genres (for training on it)."""
from __future__ import annotations

import pathlib

import numpy as np
import soundfile as sf

from mgc_jax.data import synthetic

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


# ------------------------------------------- a labelled folder whose classes sound different (training on it)


CLASS_SOUND = {"Acoustic": "classical", "Beats": "hiphop", "Electric": "metal"}  # a synthetic genre's signal per class
CLASS_FILES = {"Acoustic": ["live sets/take 1 (final).wav", "studio/Été 2.flac", "a_b.wav", "a b.wav", "x.wav"],
               "Electric": ["Track_1.WAV", "Track_2.wav", "deep/er/Track 3.Wav", "x (1).wav", "y.wav"],
               "Beats": ["beat-1.wav", "beat-2.wav", "beat-3.wav", "BEAT-4.WAV", "b5.wav"]}
CLASS_SECONDS = 7.0  # 300 frames: 3 clips of 128 frames (hop 64), one key-clarity window


def write_class_track(path: pathlib.Path, cls: str, i: int, seconds: float = CLASS_SECONDS) -> pathlib.Path:
    """Track `i` of the synthetic genre that stands for `cls`, as WAV (or FLAC by its extension) at `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    x = synthetic.render_track(CLASS_SOUND[cls], i, n_samples=int(seconds * 22050))
    fmt = "FLAC" if path.suffix.lower() == ".flac" else "WAV"
    sf.write(path, x, 22050, format=fmt)  # format given: the extension may be .WAV
    return path


def class_folder(root: pathlib.Path, seconds: float = CLASS_SECONDS) -> pathlib.Path:
    """`root/my music/<class>/...`: the issue's three files among five per class,
    each class a different synthetic genre's sound."""
    for cls, names in CLASS_FILES.items():
        for i, name in enumerate(names):
            write_class_track(root / "my music" / cls / name, cls, i, seconds)
    return root / "my music"
