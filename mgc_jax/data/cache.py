"""The per-track feature cache: `<track_id>.music.npy` [T, 8], `<track_id>.stft.npy` [T, bins] and index.json
(see WORKSPACE.md), read by `FeatureCache`; `mgc_jax.data.extraction` writes it. Plain .npy and JSON only.
"""
from __future__ import annotations

import os
import pathlib

import numpy as np
from absl import logging

from dsp import FeatureConfig
from mgc_jax.config import FEATURE_WIDTHS, feature_width
from mgc_jax.errors import DataError
from mgc_jax.workdir import read_json

KINDS = tuple(FEATURE_WIDTHS)  # the maps cached per track
INDEX = "index.json"
INDEX_FORMAT = 1  # later additions (dsp_code / extracted_ns per entry, "failed", shards) are optional keys
SHARD_GLOB = "index.process*.json"
def width(kind: str, cfg) -> int:
    """Feature width F of a map kind ("music" -> 8, "stft" -> cfg.n_bins; `mgc_jax.config.feature_width`)."""
    if kind not in KINDS:
        raise DataError(f"unknown feature kind {kind!r}; expected one of {', '.join(KINDS)}")
    return feature_width(kind, cfg)


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
        if arr.shape != expected or arr.dtype != np.float32:
            raise DataError(f"{path}: holds {arr.dtype} {list(arr.shape)}, the index says float32 {list(expected)}; "
                            "run the extraction again to rebuild it")
        return arr


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
