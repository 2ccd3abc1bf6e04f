"""CSV manifests: one row per track, `path,label` required, `artist`, `split` and `track_id` optional; a bad
row is reported with its line and skipped, a bad manifest refused naming the file and line.
"""
from __future__ import annotations

import csv
import io
import os
import pathlib

from absl import logging

from mgc_jax.data import audio
from mgc_jax.data.track import Discovery, Track, id_problem, label_warnings, path_track_id
from mgc_jax.errors import AudioError, DataError

REQUIRED = ("path", "label")
OPTIONAL = ("artist", "split", "track_id")
SPLIT_VALUES = ("train", "valid", "test")


def read(manifest: str | os.PathLike) -> Discovery:
    """The tracks of a CSV manifest, with every row not used (missing or unreadable file) and why.

    Returns:
      Discovery(tracks sorted by track id, skipped [(path, cause)] sorted by path, the manifest's folder,
      classes = the sorted labels of all rows, skipped ones included).

    Raises:
      DataError: the manifest is missing or unreadable, or a header or row is wrong (module docstring).
    """
    manifest = pathlib.Path(manifest)
    if not manifest.is_file():
        raise DataError(f"{manifest}: no such manifest file")
    try:
        raw = manifest.read_bytes()
    except OSError as e:
        raise DataError(f"{manifest}: unreadable manifest ({e})") from e
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:  # e.g. saved by a spreadsheet as cp1252 or UTF-16
        line = raw[:e.start].count(b"\n") + 1
        raise DataError(f"{manifest} line {line}: not UTF-8 (byte {raw[e.start]:#04x}); save the manifest as "
                        "UTF-8 CSV") from e
    reader = csv.reader(io.StringIO(text, newline=""))
    header, rows = None, []
    try:
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue
            if header is None:
                header = [c.strip().lower() for c in cells]
            else:
                rows.append((reader.line_num, cells))
    except csv.Error as e:
        raise DataError(f"{manifest} line {reader.line_num}: not valid CSV ({e})") from e
    if header is None:
        raise DataError(f"{manifest}: empty manifest (expected a header line path,label[,artist,split,track_id])")
    _check_header(manifest, header)
    base = manifest.parent
    tracks: list[Track] = []
    skipped: list[tuple[str, str]] = []
    labels: set[str] = set()
    line_of: dict[str, int] = {}
    folded: dict[str, str] = {}  # casefolded track id -> the id
    line_of_file: dict[str, tuple[int, str]] = {}
    seconds: dict[str, float] = {}
    skipped_class: dict[str, str] = {}
    for line, cells in rows:
        where = f"{manifest} line {line}"
        if len(cells) != len(header):
            raise DataError(f"{where}: {len(cells)} cells, the header has {len(header)} ({','.join(header)})")
        row = {name: cell.strip() for name, cell in zip(header, cells)}
        for name in REQUIRED:
            if not row[name]:
                raise DataError(f"{where}: empty {name}")
        split = None
        if "split" in row:
            split = row["split"].lower()
            if split not in SPLIT_VALUES:
                hint = ("; with a split column every row needs a value (drop the column to use only "
                        "--split=stratified or artist)") if not split else ""
                raise DataError(f"{where}: split {row['split']!r} is not one of {', '.join(SPLIT_VALUES)}{hint}")
        path = pathlib.Path(os.path.normpath(base / row["path"]))  # absolute cells stay absolute
        track_id = row.get("track_id") or path_track_id(_id_path(path, base))
        problem = id_problem(track_id)
        if problem:
            shown = track_id if len(track_id) <= 60 else f"{track_id[:40]}...{track_id[-12:]}"
            raise DataError(f"{where}: track_id {shown!r} {problem}")
        if track_id in line_of:
            raise DataError(f"{where}: duplicate track id {track_id} (also line {line_of[track_id]})")
        twin = folded.get(track_id.casefold())
        if twin is not None:  # ids name cache files: on macOS and Windows these two would be one file
            raise DataError(f"{where}: track id {track_id} differs only in case from {twin} (line {line_of[twin]}): "
                            "their cache files would collide on a case-insensitive file system")
        line_of[track_id] = line
        folded[track_id.casefold()] = track_id
        real = os.path.realpath(path)  # a symbolic link to a listed file is the same file
        if real in line_of_file:
            first, first_id = line_of_file[real]
            raise DataError(f"{where}: {row['path']} is the file of line {first} too (track {first_id}): one "
                            "file as two tracks could be trained and tested on at once")
        line_of_file[real] = (line, track_id)
        labels.add(row["label"])
        cause = None
        if not path.exists():
            cause = "no such file"
        else:
            try:
                seconds[str(path)] = float(audio.check(path).duration_s)
            except AudioError as e:
                cause = e.cause
        if cause is not None:
            skipped.append((str(path), f"{manifest.name} line {line}: {cause}"))
            skipped_class[str(path)] = row["label"]
            continue
        tracks.append(Track(track_id, row["label"], str(path), row.get("artist") or None, split,
                            f"{manifest.name} line {line}"))
    if not rows:
        raise DataError(f"{manifest}: no rows after the header")
    for warning in label_warnings(labels):
        logging.warning("%s: %s", manifest, warning)
    return Discovery(sorted(tracks), sorted(skipped), str(base), tuple(sorted(labels)), seconds, skipped_class)


def _check_header(manifest: pathlib.Path, header: list[str]) -> None:
    known = REQUIRED + OPTIONAL
    for i, name in enumerate(header):
        if name not in known:
            what = "an empty column name (a trailing comma?)" if not name else f"unknown column {name!r}"
            raise DataError(f"{manifest} line 1: {what} in column {i + 1}; columns are "
                            f"{', '.join(REQUIRED)} (required) and {', '.join(OPTIONAL)} (optional)")
        if header.index(name) != i:
            raise DataError(f"{manifest} line 1: column {name!r} appears twice")
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        raise DataError(f"{manifest} line 1: no {' and no '.join(repr(m) for m in missing)} column; "
                        f"a manifest needs {','.join(REQUIRED)} (optional: {', '.join(OPTIONAL)})")


def _id_path(path: pathlib.Path, base: pathlib.Path) -> str:
    """The path a derived track id hashes: relative to the manifest's folder when below it, else absolute."""
    path, base = os.path.abspath(path), os.path.abspath(base)
    rel = os.path.relpath(path, base)
    return pathlib.Path(path if rel == os.pardir or rel.startswith(os.pardir + os.sep) else rel).as_posix()
