"""Labelled folders: `<root>/<class>/**/<audio file>`, the class being the top folder's name; files that cannot
be used are reported with their cause and skipped.
"""
from __future__ import annotations

import os
import pathlib

from absl import logging

from mgc_jax.data import audio
from mgc_jax.data.track import Discovery, Track, label_warnings, path_track_id
from mgc_jax.errors import AudioError, DataError


def scan(root: str | os.PathLike) -> Discovery:
    """All tracks of a labelled folder, with every file or folder not used and why.

    Args:
      root: the folder holding one folder per class (module docstring).

    Returns:
      Discovery(tracks sorted by track id, skipped [(path, cause)] sorted by path, str(root), classes).

    Raises:
      DataError: `root` is missing or not a folder.
    """
    root = pathlib.Path(root)
    if not root.exists():
        raise DataError(f"{root}: no such folder")
    if not root.is_dir():
        raise DataError(f"{root}: not a folder (expected a folder of class folders, or a .csv manifest)")
    tracks: list[Track] = []
    skipped: list[tuple[str, str]] = []
    classes: list[str] = []
    for entry in sorted(root.iterdir()):
        if entry.name.startswith("."):
            continue
        if not entry.is_dir():
            skipped.append((str(entry), "a file beside the class folders (expected <class>/<file>)"))
            continue
        n_audio = 0
        for path in _files(entry):
            if path.suffix.lower().lstrip(".") not in audio.AUDIO_EXTENSIONS:
                skipped.append((str(path), f"not an audio file name (extension {path.suffix or 'none'!r})"))
                continue
            n_audio += 1
            try:
                audio.check(path)
            except AudioError as e:
                skipped.append((str(path), e.cause))
                continue
            tracks.append(Track(path_track_id(path.relative_to(root).as_posix()), entry.name, str(path)))
        if n_audio:
            classes.append(entry.name)
        else:
            skipped.append((str(entry), "no audio file in this class folder (not a class)"))
    tracks = _one_track_per_file(tracks, skipped)
    for warning in label_warnings(classes):  # a class folder's name is its label
        logging.warning("%s: %s", root, warning)
    return Discovery(sorted(tracks), sorted(skipped), str(root), tuple(sorted(classes)))


def _one_track_per_file(tracks: list[Track], skipped: list[tuple[str, str]]) -> list[Track]:
    """Keep one track of each file reached through symbolic links (the link's target, else the first path):
    one file as two tracks could sit on both sides of a split. The others join `skipped`, naming the kept one."""
    by_file: dict[str, list[Track]] = {}
    for t in tracks:
        by_file.setdefault(os.path.realpath(t.path), []).append(t)
    kept = []
    for group in by_file.values():
        keep = next((t for t in group if os.path.realpath(t.path) == os.path.abspath(t.path)), group[0])
        kept.append(keep)
        skipped.extend((t.path, f"the same file as {keep.path} (a symbolic link): one file, one track")
                       for t in group if t is not keep)
    return kept


def _files(folder: pathlib.Path):
    """Non-hidden files below `folder`, depth first in name order (no hidden folders, no folder links)."""
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith("."):
                yield pathlib.Path(dirpath) / name
