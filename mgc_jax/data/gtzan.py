"""GTZAN-layout corpora (`genres/`, `genres_original/` or plain `<g>/<g>.NNNNN.<ext>` folders of the ten
`GENRES`), and the package's GTZAN lists (the fault-filtered split, Sturm's artist index).
"""
from __future__ import annotations

import importlib.resources
import os
import pathlib
import re

from absl import logging

from mgc_jax.data import audio
from mgc_jax.data.track import Discovery, Track
from mgc_jax.errors import AudioError, DataError
from mgc_jax.workdir import WORKDIR_CAUSE, is_workdir

GENRES = ("blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock")
"""GTZAN's genres; a track's label is the index of its genre here."""

LAYOUTS = ("genres", "genres_original", "")  # sub-folders of the root tried in order ("" = the root itself)
_TRACK_NAME = re.compile(r"^(?P<genre>[a-z]+)\.(?P<number>\d{5})\.[^.]+$")


def label(genre: str) -> int:
    """Label index of a genre name (its position in GENRES)."""
    try:
        return GENRES.index(genre)
    except ValueError:
        raise DataError(f"unknown genre {genre!r}; GTZAN genres are {', '.join(GENRES)}") from None


def genre_folder_base(root: str | os.PathLike) -> pathlib.Path:
    """The folder of `root` that holds the genre folders (see the module docstring for the layouts).

    Raises:
      DataError: `root` is not a folder, or none of the layouts has a folder named after a GTZAN genre.
    """
    root = pathlib.Path(root)
    if not root.exists():
        raise DataError(f"{root}: no such folder")
    if not root.is_dir():
        raise DataError(f"{root}: not a folder (expected a corpus folder in a GTZAN layout)")
    for sub in LAYOUTS:
        base = root / sub if sub else root
        if base.is_dir() and any((base / g).is_dir() for g in GENRES):
            return base
    raise DataError(
        f"{root}: no genre folder found; expected genres/<g>/, genres_original/<g>/ or <g>/ with <g> one of "
        f"GTZAN's genres ({', '.join(GENRES)}) holding files named <g>.NNNNN.<ext>")


def is_gtzan_layout(root: str | os.PathLike) -> bool:
    """Whether a folder is read as GTZAN (else `mgc_jax.data.folder` reads it as a labelled folder).

    True when `root/genres/` or `root/genres_original/` holds a folder named after a GTZAN genre, or when
    every non-hidden sub-folder of `root` is named after a GTZAN genre and at least one of them holds a
    file named `<genre>.NNNNN.<ext>`. So `blues/my song.mp3` + `rock/x.wav` is a labelled folder with the
    classes blues and rock, and GTZAN's misnamed or stray files stay reported by `scan`. A workdir inside the
    folder (`mgc_jax.workdir.is_workdir`) does not count.
    """
    root = pathlib.Path(root)
    if not root.is_dir():
        return False
    for sub in LAYOUTS[:-1]:
        if (root / sub).is_dir() and any((root / sub / g).is_dir() for g in GENRES):
            return True
    folders = [e for e in root.iterdir() if e.is_dir() and not e.name.startswith(".") and not is_workdir(e)]
    if not folders or any(e.name not in GENRES for e in folders):
        return False
    return any((m := _TRACK_NAME.match(f.name)) and m["genre"] == e.name for e in folders for f in e.iterdir())


def scan(root: str | os.PathLike) -> Discovery:
    """All tracks of a GTZAN-layout folder, with every file or folder not used and why.

    Args:
      root: the corpus folder (see the module docstring for the layouts).

    Returns:
      Discovery(tracks sorted by track id, skipped [(path, cause)] sorted by path, base folder, GENRES).

    Raises:
      DataError: `root` is not a folder or holds no genre folder.
    """
    base = genre_folder_base(root)
    tracks: dict[str, Track] = {}
    skipped: list[tuple[str, str]] = []
    seconds: dict[str, float] = {}
    skipped_class: dict[str, str] = {}
    for entry in sorted(base.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir() and entry.name not in GENRES:
            skipped.append((str(entry), WORKDIR_CAUSE if is_workdir(entry) else
                            f"folder {entry.name!r} is not a GTZAN genre ({', '.join(GENRES)})"))
    for genre in GENRES:
        folder = base / genre
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if path.name.startswith("."):  # .DS_Store, AppleDouble "._x.au" files
                continue
            cause = _track_problem(path, genre)
            track_id = path.name.rsplit(".", 1)[0]
            if cause is None and track_id in tracks:
                cause = f"duplicate of track {track_id} ({tracks[track_id].path})"
            if cause is None:
                try:
                    seconds[str(path)] = float(audio.check(path).duration_s)
                except AudioError as e:
                    cause = e.cause
            if cause is None:
                tracks[track_id] = Track(track_id, genre, str(path))
            else:
                skipped.append((str(path), cause))
                skipped_class[str(path)] = genre
    kept = {t.path for t in tracks.values()}
    return Discovery(sorted(tracks.values()), sorted(skipped), str(base), GENRES,
                     {p: s for p, s in seconds.items() if p in kept}, skipped_class)


def discover(root: str | os.PathLike) -> list[Track]:
    """The good tracks of a GTZAN-layout folder, sorted by track id; bad files are logged and skipped.

    Raises:
      DataError: `root` is not a folder, holds no genre folder, or no readable track.
    """
    found = scan(root)
    for path, cause in found.skipped:
        logging.warning("skipped %s: %s", path, cause)
    if not found.tracks:
        raise DataError(f"{root}: no readable track in {found.base} ({len(found.skipped)} files skipped)")
    return found.tracks


def _track_problem(path: pathlib.Path, genre: str) -> str | None:
    if path.is_dir():
        return "a folder inside a genre folder (expected audio files)"
    m = _TRACK_NAME.match(path.name)
    if m is None:
        return f"name is not {genre}.NNNNN.<ext> (GTZAN track naming)"
    if m["genre"] != genre:
        return f"a {m['genre']} track in the {genre} folder"
    return None


def sturm_artists() -> dict[str, str]:
    """Artist of each GTZAN track id from Sturm's 2012 index ("" where the index has none)."""
    artists = {}
    for line in _package_text("GTZANindex_sturm2012.txt").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        fields = [f.strip() for f in line.split(":::")]
        artists[fields[0].rsplit(".", 1)[0]] = fields[1] if len(fields) > 1 else ""
    return artists


def _package_text(name: str) -> str:
    return importlib.resources.files("mgc_jax.data").joinpath("lists", name).read_text(encoding="utf-8")


def split_list(name: str) -> list[str]:
    """Track ids of a split list whose lines read `<genre>/<genre>.NNNNN.wav`."""
    return [line.strip().rsplit("/", 1)[-1].rsplit(".", 1)[0] for line in _package_text(name).splitlines() if line.strip()]
