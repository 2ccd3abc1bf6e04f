"""What `--data_dir` names (a GTZAN-layout folder, a labelled folder, a CSV manifest, or None for the built-in
corpus), and the corpus name that keys its cache, splits, runs and results in the workdir.
"""
from __future__ import annotations

import collections
import os
import pathlib
from collections.abc import Sequence
from typing import NamedTuple

from mgc_jax.data import folder, gtzan, manifest
from mgc_jax.data.synthetic import CORPUS_NAME
from mgc_jax.data.track import UNLABELLED, Track, short_hash, slug
from mgc_jax.errors import DataError

KINDS = ("gtzan", "folder", "manifest", "synthetic")
MIN_CLASSES = 2
BESIDE_CLASSES = "a file beside the class folders"


class Source(NamedTuple):
    """A corpus as found on disk, before feature extraction."""

    kind: str  # one of KINDS
    name: str  # corpus name (module docstring)
    root: pathlib.Path  # data_dir as given: the corpus folder or the manifest file
    classes: tuple[str, ...]  # class names in label order
    tracks: list[Track]  # tracks whose audio passed the header check, sorted by id
    skipped: list[tuple[str, str]]  # (path, cause) of everything not used
    seconds: dict = {}  # path -> duration in s of each track (its header)
    skipped_class: dict = {}  # path -> class of a file not used, where it has one


def check_data_dir(data_dir: str | os.PathLike) -> None:
    """Refuse, before anything is read, a --data_dir that cannot be a corpus: an empty value (an unset shell
    variable would otherwise mean the current folder), the file-system root or the home folder (their walk
    reads every file below them: other users' temporary files and caches).

    Raises:
      DataError: one line naming the value.
    """
    text = os.fspath(data_dir)
    if not str(text).strip():
        raise DataError("--data_dir is empty (an unset shell variable?): name a corpus folder or a PATH.csv manifest, "
                        "or leave the flag out for the built-in synthetic corpus")
    path = pathlib.Path(text).expanduser().resolve()
    if path == pathlib.Path(path.anchor):
        raise DataError(f"--data_dir={text}: the file-system root is not a corpus; name the folder of the corpus")
    home = pathlib.Path.home().resolve()
    if path == home:
        raise DataError(f"--data_dir={text}: the home folder is not a corpus; name the folder of the corpus inside it")


def kind_of(data_dir: str | os.PathLike) -> str:
    """"gtzan", "folder" or "manifest" (a path ending in .csv, any case).

    Raises:
      DataError: an absurd data_dir (`check_data_dir`), nothing at `data_dir`, or a file that is not a .csv
        manifest.
    """
    check_data_dir(data_dir)
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
    check_data_dir(data_dir)
    path = pathlib.Path(data_dir)
    resolved = path.resolve()
    if path.suffix.lower() != ".csv" and (not path.exists() or kind_of(path) == "gtzan"):
        return resolved.name
    stem = resolved.stem if path.suffix.lower() == ".csv" else resolved.name
    return f"{slug(stem, 40) or 'corpus'}-{short_hash(resolved.as_posix())}"


def find(data_dir: str | os.PathLike, *, labelled: bool = True, exclude=()) -> Source:
    """Scan the corpus at `data_dir`: its kind, name, classes, tracks and the files not used. Refuses nothing
    about its content: a corpus without usable tracks or classes is refused by `check_usable`, after the
    summary of what was found (`mgc_jax.data.summary`).

    Args:
      labelled: training needs classes: audio files beside the class folders of a labelled folder are then not
        used (with that cause); False keeps them (extraction needs no label).
      exclude: folders that are never part of the corpus (the workdir; `folder.scan`).

    Raises:
      DataError: an absurd data_dir, no corpus there, or a bad manifest (manifest.read).
    """
    kind = kind_of(data_dir)
    root = pathlib.Path(data_dir)
    found = folder.scan(root, exclude=exclude) if kind == "folder" else {"gtzan": gtzan.scan,
                                                                        "manifest": manifest.read}[kind](root)
    tracks, skipped = list(found.tracks), list(found.skipped)
    if labelled:
        skipped += [(t.path, f"{BESIDE_CLASSES} (expected <class>/<file>)") for t in tracks if t.genre == UNLABELLED]
        tracks = [t for t in tracks if t.genre != UNLABELLED]
    return Source(kind, corpus_name(root), root, tuple(found.classes), tracks, sorted(skipped),
                  dict(found.seconds), dict(found.skipped_class))


def check_usable(root, kind: str, classes: Sequence[str], tracks, problems) -> None:
    """Refuse a corpus without a usable track or with fewer than MIN_CLASSES classes (for training).

    Raises:
      DataError: one line naming the first files not used (`not_used`).
    """
    if not tracks:
        raise DataError(f"{root}: no usable track ({not_used(problems)})")
    if len(classes) < MIN_CLASSES:
        where = {"folder": "class folders (<root>/<class>/**/<audio file>)", "manifest": "labels"}.get(kind, "classes")
        raise DataError(f"{root}: only {len(classes)} class ({', '.join(classes)}): a corpus needs at least "
                        f"{MIN_CLASSES} {where}")


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
