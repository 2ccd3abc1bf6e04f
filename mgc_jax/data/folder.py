"""Labelled folders: `<root>/<class>/**/<audio file>`, the class being the top folder's name; files that cannot
be used are reported with their cause and skipped. Audio files beside the class folders have no class (extraction
only), and a workdir inside the folder is never read.
"""
from __future__ import annotations

import os
import pathlib
from collections.abc import Sequence

from absl import logging

from mgc_jax.data import audio
from mgc_jax.data.track import UNLABELLED, Discovery, Track, label_warnings, path_track_id
from mgc_jax.errors import AudioError, DataError
from mgc_jax.workdir import WORKDIR_CAUSE, is_workdir


def scan(root: str | os.PathLike, *, exclude: Sequence[str | os.PathLike] = ()) -> Discovery:
    """All tracks of a labelled folder, with every file or folder not used and why.

    Args:
      root: the folder holding one folder per class (module docstring).
      exclude: folders never read as part of the corpus (the workdir: `mgc_jax.workdir.is_workdir` folders are
        skipped anyway).

    Returns:
      Discovery(tracks sorted by track id, skipped [(path, cause)] sorted by path, str(root), classes, seconds,
      skipped_class). Audio files beside the class folders are tracks of class UNLABELLED (extraction needs no
      label; `mgc_jax.data.sources.find` sets them aside for training); they name no class.

    Raises:
      DataError: `root` is missing or not a folder.
    """
    root = pathlib.Path(root)
    if not root.exists():
        raise DataError(f"{root}: no such folder")
    if not root.is_dir():
        raise DataError(f"{root}: not a folder (expected a folder of class folders, or a .csv manifest)")
    excluded = {os.path.realpath(p) for p in exclude}
    tracks: list[Track] = []
    skipped: list[tuple[str, str]] = []
    classes: list[str] = []
    seconds: dict[str, float] = {}
    skipped_class: dict[str, str] = {}

    def take(path: pathlib.Path, cls: str) -> bool:
        """Check one file: a track of `cls`, or a file not used (and why); True when its name says audio."""
        ext = path.suffix.lower().lstrip(".")
        if ext not in audio.AUDIO_EXTENSIONS:
            skipped.append((str(path), f"not an audio file name (extension {path.suffix or 'none'!r})"))
        else:
            try:
                info = audio.check(path)
            except AudioError as e:
                skipped.append((str(path), e.cause))
            else:
                tracks.append(Track(path_track_id(path.relative_to(root).as_posix()), cls, str(path)))
                seconds[str(path)] = float(info.duration_s)
        if cls != UNLABELLED and str(path) not in seconds:
            skipped_class[str(path)] = cls
        return ext in audio.AUDIO_EXTENSIONS

    for entry in sorted(root.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir() and _is_excluded(entry, excluded):
            skipped.append((str(entry), WORKDIR_CAUSE))
            continue
        if not entry.is_dir():
            take(entry, UNLABELLED)
            continue
        n_audio = sum(take(path, entry.name) for path in _files(entry, excluded, skipped))
        if n_audio:
            classes.append(entry.name)
        else:
            skipped.append((str(entry), "no audio file in this class folder (not a class)"))
    tracks = _one_track_per_file(tracks, skipped)
    for warning in label_warnings(classes):  # a class folder's name is its label
        logging.warning("%s: %s", root, warning)
    kept = {t.path for t in tracks}
    return Discovery(sorted(tracks), sorted(skipped), str(root), tuple(sorted(classes)),
                     {p: s for p, s in seconds.items() if p in kept}, skipped_class)


def _is_excluded(folder: pathlib.Path, excluded: set[str]) -> bool:
    return os.path.realpath(folder) in excluded or is_workdir(folder)


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


def _files(folder: pathlib.Path, excluded: set[str], skipped: list[tuple[str, str]]):
    """Non-hidden files below `folder`, depth first in name order (no hidden folders, no folder links, no workdir:
    a workdir met on the way joins `skipped`)."""
    for dirpath, dirnames, filenames in os.walk(folder):
        keep = []
        for d in sorted(d for d in dirnames if not d.startswith(".")):
            if _is_excluded(pathlib.Path(dirpath) / d, excluded):
                skipped.append((str(pathlib.Path(dirpath) / d), WORKDIR_CAUSE))
            else:
                keep.append(d)
        dirnames[:] = keep
        for name in sorted(filenames):
            if not name.startswith("."):
                yield pathlib.Path(dirpath) / name
