"""The per-track feature cache: `<track_id>.music.npy` [T, 8], `<track_id>.stft.npy` [T, bins] and index.json
(see WORKSPACE.md), read by `FeatureCache`; `mgc_jax.data.extraction` writes it through `write_maps` and
`IndexStore`. Plain .npy and JSON only.
"""
from __future__ import annotations

import hashlib
import io
import os
import pathlib
from collections.abc import Sequence

import numpy as np
from absl import logging

from dsp import FeatureConfig
from mgc_jax import distributed
from mgc_jax.config import FEATURE_WIDTHS, feature_width
from mgc_jax.errors import DataError
from mgc_jax.workdir import atomic_write, read_json, write_json

KINDS = tuple(FEATURE_WIDTHS)  # the maps cached per track
INDEX = "index.json"
INDEX_FORMAT = 1  # later additions (dsp_code / extracted_ns per entry, "failed", shards) are optional keys
SHARD_GLOB = "index.process*.json"
def width(kind: str, cfg) -> int:
    """Feature width F of a map kind ("music" -> 8, "stft" -> cfg.n_bins; `mgc_jax.config.feature_width`)."""
    if kind not in KINDS:
        raise DataError(f"unknown feature kind {kind!r}; expected one of {', '.join(KINDS)}")
    return feature_width(kind, cfg)


STORAGE_DTYPES = ("float32", "float16")  # of a cached map; float16 is offered for STFT maps (`stored_dtype`)
FLOAT16_MAX = float(np.finfo(np.float16).max)  # 65504: a map with larger values is stored as float32


def stored_dtype(entry: dict, kind: str) -> str:
    """The dtype a cached map is stored in: its entry's "dtypes" (float32 for entries without one)."""
    return entry.get("dtypes", {}).get(kind, "float32")


def write_maps(directory: pathlib.Path, track_id: str, maps: dict[str, np.ndarray],
               dtypes: dict[str, str] | None = None) -> dict:
    """Write a track's maps (kind -> [T, F]) as `<track_id>.<kind>.npy`, each atomically, in `dtypes` (kind ->
    one of STORAGE_DTYPES; float32 for a kind not named).

    Returns the index entry's file fields: {"files", "file_sha256", "file_mtime_ns", "dtypes"}, each kind -> value.
    """
    dtypes = {k: (dtypes or {}).get(k, "float32") for k in maps}
    out = {"files": {}, "file_sha256": {}, "file_mtime_ns": {}, "dtypes": dtypes}
    for kind, arr in maps.items():
        name = f"{track_id}.{kind}.npy"
        buf = io.BytesIO()
        np.save(buf, np.ascontiguousarray(arr, dtype=dtypes[kind]), allow_pickle=False)
        with atomic_write(directory / name) as f:
            f.write(buf.getbuffer())
        out["files"][kind], out["file_sha256"][kind] = name, hashlib.sha256(buf.getbuffer()).hexdigest()
        out["file_mtime_ns"][kind] = (directory / name).stat().st_mtime_ns
    return out


class IndexStore:
    """Where this process's index goes: index.json for a single process, index.process<k>.json for process k.

    `mine` is the share of the tracks this process extracts (all of them in a single process). A shard holds
    the header and the records of `mine` only, so two processes never write the same file.
    """

    def __init__(self, directory: pathlib.Path, index: dict, tracks: Sequence):
        self.directory, self.index = directory, index
        self.rank, self.count = distributed.process_index(), distributed.process_count()
        if self.count == 1:
            self.mine = list(tracks)
            self.path = directory / INDEX
        else:
            self.mine = distributed.share(sorted(tracks, key=lambda t: t.track_id), self.rank, self.count)
            self.path = directory / f"index.process{self.rank}.json"
        self._own = {t.track_id for t in self.mine}

    def describe(self) -> str:
        return "" if self.count == 1 else f"; process {self.rank} of {self.count}: {len(self.mine)} tracks"

    def must_write(self) -> bool:
        """A shard is always rewritten (its share may be new); index.json when shards wait to be folded in."""
        return self.count > 1 or any(self.directory.glob(SHARD_GLOB))

    def save(self) -> None:
        if self.count == 1:
            write_json(self.path, self.index)
            for shard in self.directory.glob(SHARD_GLOB):  # folded into index.json above
                shard.unlink(missing_ok=True)
            return
        header = {k: v for k, v in self.index.items() if k not in ("tracks", "failed")}
        write_json(self.path, dict(header, process={"index": self.rank, "count": self.count},
                                   tracks={t: e for t, e in self.index["tracks"].items() if t in self._own},
                                   failed={t: f for t, f in self.index["failed"].items() if t in self._own}))


class FeatureCache:
    """Read access to a cache folder: `load(track_id, kind)` memory-maps a track's [T, F] map."""

    def __init__(self, directory: str | os.PathLike):
        self.directory = pathlib.Path(directory)
        self._index = _read_index(self.directory)

    def entries(self) -> dict[str, dict]:
        """index.json's per-track entries (merged with any process shards): track id -> metadata (module docstring)."""
        return self._index["tracks"]

    def failures(self) -> dict[str, dict]:
        """Tracks whose last extraction failed, from every process: track id -> {"path", "cause", "extracted_ns"}."""
        return self._index["failed"]

    @property
    def config(self):
        """The `dsp.FeatureConfig` the cache was extracted with (None for an empty cache)."""
        if self._index.get("config") is None:
            return None

        return FeatureConfig.from_dict(self._index["config"])

    def has(self, track_id: str) -> bool:
        entry = self.entries().get(track_id)
        return entry is not None and all((self.directory / f).is_file() for f in entry["files"].values())

    def path(self, track_id: str, kind: str) -> pathlib.Path:
        entry = self.entries().get(track_id)
        if entry is None:
            raise DataError(f"track {track_id} is not in the feature cache {self.directory}")
        if kind not in entry["files"]:
            raise DataError(f"unknown feature kind {kind!r}; the cache holds {', '.join(entry['files'])}")
        return self.directory / entry["files"][kind]

    def load(self, track_id: str, kind: str, mmap: bool = True) -> np.ndarray:
        """float32 [T, F] map of a track (read-only memory map unless mmap=False).

        A map stored as float16 (`extraction.extract(stft_dtype="float16")`) comes as a float16 memory map
        (its users cast what they read: `ClipDataset` cuts float32 clips) or, with mmap=False, as float32.

        Raises:
          DataError: the track or kind is not cached, or its file is damaged.
        """
        path = self.path(track_id, kind)
        try:
            arr = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise DataError(f"{path}: unreadable feature file ({e}); run the extraction again to rebuild it") from e
        # A file replaced behind the index's back must not pass for the map the index describes.
        expected = (self.entries()[track_id].get("n_frames"), width(kind, self.config))
        dtype = stored_dtype(self.entries()[track_id], kind)
        if arr.shape != expected or arr.dtype != dtype:
            raise DataError(f"{path}: holds {arr.dtype} {list(arr.shape)}, the index says {dtype} {list(expected)}; "
                            "run the extraction again to rebuild it")
        return arr if mmap or arr.dtype == np.float32 else arr.astype(np.float32)


def _read_index(directory: pathlib.Path) -> dict:
    """index.json merged with every process shard (module docstring): one dict like a single index.json.

    Each track's entry or failure record comes from the file with its latest `extracted_ns` (ties: the most
    recently written file); entries without one (older caches) count as time 0. Entries inherit their file's
    dsp_code when they lack their own; the header is the most recently written file's.
    """
    merged = {"format": INDEX_FORMAT, "config_hash": None, "config": None, "tracks": {}, "failed": {}}
    files = []
    for path in [directory / INDEX, *sorted(directory.glob(SHARD_GLOB))]:
        try:
            mtime = path.stat().st_mtime_ns
            index = read_json(path)
        except FileNotFoundError:  # absent, or a shard just folded into index.json by a single-process run
            continue
        if (not isinstance(index, dict) or index.get("format") != INDEX_FORMAT
                or not isinstance(index.get("tracks"), dict) or not isinstance(index.get("failed", {}), dict)):
            raise DataError(f"{path}: not a feature index of this version; delete {directory} to rebuild it")
        if merged["config_hash"] is None:
            merged.update(config_hash=index.get("config_hash"), config=index.get("config"))
        elif index.get("config_hash") not in (None, merged["config_hash"]):
            raise DataError(f"{path}: features of configuration {index.get('config_hash')} beside "
                            f"{merged['config_hash']} in the same folder; delete {directory} to rebuild it")
        files.append((mtime, path.name, index))
    files.sort(key=lambda f: (f[0], f[1]))
    latest: dict[str, tuple[int, str, dict]] = {}
    for _, _, index in files:
        for kind in ("tracks", "failed"):
            for track_id, record in index.get(kind, {}).items():
                # A damaged entry is dropped (logged): the track counts as not cached and extract rebuilds it.
                if not isinstance(record, dict) or (kind == "tracks" and not isinstance(record.get("files"), dict)):
                    logging.warning("%s: damaged %s entry of %s dropped (it will be extracted again)",
                                    directory, kind, track_id)
                    continue
                record = dict(record)
                if kind == "tracks":
                    record.setdefault("dsp_code", index.get("dsp_code"))
                stamp = record.get("extracted_ns", 0)
                if track_id not in latest or stamp >= latest[track_id][0]:
                    latest[track_id] = (stamp, kind, record)
    for track_id, (_, kind, record) in latest.items():
        merged[kind][track_id] = record
    if files:
        merged["dsp_code"] = files[-1][2].get("dsp_code")
    return merged
