"""What `--data_dir` names (a GTZAN-layout folder, a labelled folder, a CSV manifest, or None for the built-in
corpus), and the corpus name that keys its cache, splits, runs and results in the workdir.
"""
from __future__ import annotations

import collections
import os
import pathlib
from typing import NamedTuple

from mgc_jax.data import folder, gtzan, manifest
from mgc_jax.data.synthetic import CORPUS_NAME
from mgc_jax.data.track import Discovery, Track, short_hash, slug
from mgc_jax.errors import DataError

KINDS = ("gtzan", "folder", "manifest", "synthetic")
MIN_CLASSES = 2


class Source(NamedTuple):
    """A corpus as found on disk, before feature extraction."""

    kind: str  # one of KINDS
    name: str  # corpus name (module docstring)
    root: pathlib.Path  # data_dir as given: the corpus folder or the manifest file
    classes: tuple[str, ...]  # class names in label order
    tracks: list[Track]  # tracks whose audio passed the header check, sorted by id
    skipped: list[tuple[str, str]]  # (path, cause) of everything not used


def kind_of(data_dir: str | os.PathLike) -> str:
    """"gtzan", "folder" or "manifest" (a path ending in .csv, any case).

    Raises:
      DataError: nothing at `data_dir`, or a file that is not a .csv manifest.
    """
    path = pathlib.Path(data_dir)
    if path.suffix.lower() == ".csv":
        return "manifest"
    if not path.exists():
        raise DataError(f"{path}: no such folder (--data_dir takes a corpus folder or a PATH.csv manifest)")
    if not path.is_dir():
        raise DataError(f"{path}: not a folder, and not a .csv manifest (--data_dir takes either)")
    return "gtzan" if gtzan.is_gtzan_layout(path) else "folder"


def corpus_name(data_dir: str | os.PathLike | None) -> str:
    """The name of the corpus at `data_dir` (module docstring); "synthetic" for None. Reads no audio."""
    if data_dir is None:

        return CORPUS_NAME
    path = pathlib.Path(data_dir)
    resolved = path.resolve()
    if path.suffix.lower() != ".csv" and (not path.exists() or kind_of(path) == "gtzan"):
        return resolved.name
    stem = resolved.stem if path.suffix.lower() == ".csv" else resolved.name
    return f"{slug(stem, 40) or 'corpus'}-{short_hash(resolved.as_posix())}"


def find(data_dir: str | os.PathLike) -> Source:
    """Scan the corpus at `data_dir`: its kind, name, classes, tracks and the files not used.

    Raises:
      DataError: no corpus there, a bad manifest (manifest.read), no usable track, or fewer than
        MIN_CLASSES classes.
    """
    kind = kind_of(data_dir)
    root = pathlib.Path(data_dir)
    scan = {"gtzan": gtzan.scan, "folder": folder.scan, "manifest": manifest.read}[kind]
    found = scan(root)
    return from_discovery(kind, corpus_name(root), root, found)


def from_discovery(kind: str, name: str, root: pathlib.Path, found: Discovery) -> Source:
    """A Source from a scan's Discovery, refusing a corpus without tracks or with fewer than two classes."""
    if not found.tracks:
        raise DataError(f"{root}: no usable track ({not_used(found.skipped)})")
    classes = tuple(found.classes)
    if len(classes) < MIN_CLASSES:
        where = {"folder": "class folders (<root>/<class>/**/<audio file>)", "manifest": "labels"}.get(kind, "classes")
        raise DataError(f"{root}: only {len(classes)} class ({', '.join(classes)}): a corpus needs at least "
                        f"{MIN_CLASSES} {where}")
    return Source(kind, name, root, classes, list(found.tracks), list(found.skipped))


def not_used(skipped, shown: int = 3) -> str:
    """'N files not used: <path>: <cause>; ... and K more': what an error about an empty corpus names (the files'
    own warnings may never have been printed)."""
    if not skipped:
        return "no audio file found"
    head = "; ".join(f"{path}: {cause}" for path, cause in list(skipped)[:shown])
    more = f"; and {len(skipped) - shown} more" if len(skipped) > shown else ""
    return f"{len(skipped)} files not used: {head}{more}"


def check_classes_used(source_root, classes: tuple[str, ...], tracks) -> None:
    """Every class of a labelled folder or manifest must keep a usable track (else its label means nothing).

    Raises:
      DataError: naming the first class without a usable track.
    """
    counts = collections.Counter(t.genre for t in tracks)
    empty = [c for c in classes if not counts[c]]
    if empty:
        raise DataError(f"{source_root}: class {empty[0]!r} has no usable track (see the files not used above)"
                        + (f"; also {', '.join(map(repr, empty[1:]))}" if len(empty) > 1 else ""))
