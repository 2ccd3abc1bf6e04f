"""Batched, resumable, multi-process extraction of the feature cache (`mgc_jax.data.cache` holds its layout and reader).

Extraction (`extract`) runs `dsp.features.feature_maps` (= `dsp.music_features_with_nan_counts` and
`dsp.stft_features` from one STFT) jitted and vmapped over batches of equal-length tracks. Tracks are
cropped to equal lengths by a rule that depends on the track alone (`mgc_jax.data.maps.crop_length`): keep
everything up to the end of the last full 6 s key-clarity window. Every frame and every key window kept then sees
exactly the samples it would see uncropped; only the frames past that window go (for GTZAN's
30.00-30.13 s tracks: everything after 30.000 s, 0-3 frames, leaving T = 1290; the track-global
normalisations of roughness and the MinRMS trims then run over these T frames). Equal crop lengths
make vmapped batches with one compilation per length, and a track's features never depend on which
tracks share its batch. A track no longer than one key window (<= 6 s) is kept whole.

Devices and processes. Each batch is sharded over this process's devices (`mgc_jax.sharding.local_mesh`):
`batch_size` is rounded up to a multiple of the local device count and every device maps its own tracks, so
one CPU, four GPUs or four simulated CPU devices run the same code and give the same maps. In a multi-process
run (`mgc_jax.distributed`) process k extracts `distributed.share(tracks)` (round robin over the tracks
sorted by id: disjoint, no communication) and is the only writer of those tracks' `.npy` files and of its own
`index.process<k>.json`; nothing is written by two processes. Readers merge index.json and every shard: per
track the record (entry or failure) with the latest extraction time wins, ties going to the most recently
written file, so shards left by an earlier run with more processes can only lose to newer work. (Clocks of
several hosts must agree to better than the time between two runs on the same cache.) A single-process
extraction folds the shards back into index.json and deletes them. `extract` returns in every process once
all of them are done (a barrier), so the cache is complete when any of them goes on to train.
"""
from __future__ import annotations

import collections
import errno
import functools
import hashlib
import io
import os
import pathlib
import time
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from absl import logging

import mgc_jax.config
from dsp import FEATURE_NAMES, n_frames
from dsp.features import feature_maps
from mgc_jax import distributed, sharding
from mgc_jax.data import audio
from mgc_jax.data.cache import (
    INDEX,
    INDEX_FORMAT,
    KINDS,
    SHARD_GLOB,
    _read_index,
    width,
)
from mgc_jax.data.maps import crop_length
from mgc_jax.data.track import id_problem
from mgc_jax.errors import AudioError, DataError
from mgc_jax.workdir import atomic_write, write_json


class ExtractReport(NamedTuple):
    done: list[str]  # track ids extracted by this call
    skipped: list[str]  # track ids already cached and up to date (no work)
    failed: list[tuple[str, str]]  # (audio path, cause) of tracks that could not be extracted
    seconds: float = 0.0  # wall time of this call's extraction (reading, compiling, computing, writing)
    verified: int = 0  # with verify=True: .npy files re-hashed
    rotted: tuple[tuple[str, str], ...] = ()  # with verify=True: (file, why) of each one extracted again


def extract(tracks: Sequence, cache_dir: str | os.PathLike, cfg, *, batch_size: int = 8,
            progress: bool = True, verify: bool = False) -> ExtractReport:
    """Extract the music and STFT maps of every track not cached yet (resumable, batched, sharded).

    Args:
      tracks: `Track`s (track_id, genre, path), e.g. from `datasets.gtzan.discover`; in a multi-process run
        every process passes the same list and extracts its `distributed.share` of it.
      cache_dir: the cache folder (`Workdir.features_dir(corpus, cfg)`); created if needed.
      cfg: the `dsp.FeatureConfig`; must be the one the folder was made with.
      batch_size: tracks per batch, rounded up to a multiple of the local device count and split over the
        devices (memory ~ 25 MB per 30 s track for the STFT map alone).
      progress: show a tqdm progress bar.
      verify: re-hash every cached .npy of a cached track against the SHA-256 in its entry (an unchanged
        mtime is otherwise trusted; `mgc_jax.data.cache`, "Trust and --verify") and extract again each track with a
        file whose bytes differ, or whose entry has no checksum to compare with (reported in `rotted`).

    Returns:
      ExtractReport(done, skipped, failed) of this process's tracks. A track is skipped when its entry,
      both arrays (shape and dtype; mtime, else SHA-256) and its audio (size + mtime, else SHA-256) all match; otherwise it is
      rebuilt. A bad audio file goes to `failed` with its cause (and to the index's "failed"); extraction
      goes on. In a multi-process run it returns once every process has finished its share.

    Raises:
      DataError: the folder belongs to another configuration, or track ids repeat or are unsafe.
    """
    if not (isinstance(batch_size, int) and batch_size >= 1):
        raise ValueError(f"batch_size={batch_size!r}: need an int >= 1")
    distributed.check_backend()
    directory = pathlib.Path(cache_dir)
    directory.mkdir(parents=True, exist_ok=True)
    index = _read_index(directory)
    if index.get("config_hash") not in (None, cfg.hash()):
        raise DataError(f"{directory} holds features of another configuration ({index['config_hash']}, "
                        f"not {cfg.hash()}); use Workdir.features_dir(corpus, cfg)")
    code = mgc_jax.config.dsp_code_hash()
    stale = collections.Counter(e.get("dsp_code") for e in index["tracks"].values() if e.get("dsp_code") != code)
    if stale:
        # Same configuration, other kernels: the cached maps may differ from what dsp computes now.
        logging.warning("%s: re-extracting %d tracks: the dsp code changed since these maps were made (made by dsp "
                        "code %s, now %s)", directory, sum(stale.values()),
                        ", ".join(str(c) for c in sorted(stale, key=str)), code)
        for t in [t for t, e in index["tracks"].items() if e.get("dsp_code") != code]:
            del index["tracks"][t]
    index.update(format=INDEX_FORMAT, config_hash=cfg.hash(), config=cfg.to_dict(), dsp_code=code)
    _check_ids(tracks)
    store = _IndexStore(directory, index, tracks)

    skipped, todo, rotted, verified = [], [], [], 0
    before = repr(index["tracks"])
    for t in store.mine:
        entry = index["tracks"].get(t.track_id)
        if not _up_to_date(directory, entry, t, cfg):
            todo.append(t)
            continue
        if verify:
            bad = _rotted(directory, entry)
            verified += len(entry["files"])
            if bad:
                rotted.extend(bad)
                todo.append(t)
                continue
        skipped.append(t)
    if not todo:
        if stale or store.must_write():  # shards to fold
            store.save()
        elif repr(index["tracks"]) != before:  # refreshed paths or mtimes: worth recording, not needed
            try:
                store.save()
            except OSError as e:
                if e.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
                    raise
                # A read-only (shared) cache serves as it is; the next writable run records them.
                logging.info("%s: could not record the tracks' new paths or times (%s); the cache is used as it is",
                             directory, e.strerror)
        distributed.barrier(f"mgc_jax.data.extraction.extract:{directory.name}")
        return ExtractReport([], [t.track_id for t in skipped], [], verified=verified)
    logging.info("extracting %d tracks into %s (%d already cached%s%s)", len(todo), directory, len(skipped),
                 f", {sum(stale.values())} made by other dsp code" if stale else "", store.describe())

    from tqdm import tqdm

    t0 = time.perf_counter()
    # A batch is padded to batch_size rows: rows beyond the tracks there are would hold memory for audio that is not
    # there (--batch_size=100000 asks for 260 GB). Up to the default 8 rows stay as asked (same compiled shapes).
    rows = min(batch_size, max(len(todo), 8))
    if rows < batch_size:
        logging.info("batch_size=%d is larger than the %d tracks to extract: batches of %d", batch_size, len(todo),
                     rows)
    run = _Run(index, cfg, rows, store)
    with tqdm(total=len(todo), disable=not progress, unit="track", desc="features") as bar:
        for t in todo:
            run.add(t)
            bar.update(run.take_progress())
        run.flush_all()
        bar.update(run.take_progress())
    store.save()  # also records tracks that failed after the last batch
    run.log_crops()
    seconds = time.perf_counter() - t0
    logging.info("extracted %d tracks in %.1f s (%.2f tracks/s, compilation included)", len(run.done), seconds,
                 len(run.done) / seconds)
    distributed.barrier(f"mgc_jax.data.extraction.extract:{directory.name}")
    return ExtractReport(run.done, [t.track_id for t in skipped], run.failed, seconds, verified, tuple(rotted))


# ------------------------------------------------------------------------------------------ internals


class _Pending(NamedTuple):
    track: object
    x: np.ndarray  # float32 [n_kept]
    meta: dict


class _IndexStore:
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


class _Run:
    """One extraction: buckets of equal-length audio, flushed as batches sharded over the local devices."""

    def __init__(self, index, cfg, batch_size, store: _IndexStore):
        self.directory, self.index, self.cfg, self.store = store.directory, index, cfg, store
        # Whole rows per device: one compiled shape per track length, whatever the batch's fill.
        self.batch_size = sharding.padded_size(batch_size, sharding.local_mesh())
        self.buckets: dict[int, list[_Pending]] = collections.defaultdict(list)
        self.done: list[str] = []
        self.failed: list[tuple[str, str]] = []
        self.crops: list[float] = []  # seconds dropped per track
        self._progress = 0
        # Tracks of rare lengths wait in their bucket; beyond this many waiting, the fullest bucket goes
        # (padded), which bounds memory for corpora of many lengths.
        self.max_waiting = 4 * self.batch_size

    def take_progress(self) -> int:
        n, self._progress = self._progress, 0
        return n

    def add(self, track) -> None:
        try:
            raw = pathlib.Path(track.path).read_bytes()
            decoded = audio.decode(track.path, self.cfg.sample_rate)
        except AudioError as e:
            return self._fail(track, e.cause)
        except OSError as e:
            return self._fail(track, f"unreadable ({e})")
        x = decoded.samples
        if decoded.warnings:  # extracted all the same: the classes decide whether silence or the like is music
            logging.warning("%s: %s", track.path, "; ".join(decoded.warnings))
        n = x.size
        kept = crop_length(n, self.cfg)
        if n_frames(kept, self.cfg) < 1:
            return self._fail(track, f"too short: {n} samples at {self.cfg.sample_rate} Hz, "
                                     f"less than one {self.cfg.frame_length}-sample frame")
        st = os.stat(track.path)
        meta = {"path": str(track.path), "genre": track.genre, "audio_sha256": hashlib.sha256(raw).hexdigest(),
                "audio_bytes": st.st_size, "audio_mtime_ns": st.st_mtime_ns,
                "duration_s": n / self.cfg.sample_rate, "n_samples": n, "n_samples_kept": kept,
                "n_frames": n_frames(kept, self.cfg), "warnings": list(decoded.warnings)}
        self.crops.append((n - kept) / self.cfg.sample_rate)
        bucket = self.buckets[kept]
        bucket.append(_Pending(track, x[:kept], meta))
        if len(bucket) == self.batch_size:
            self._flush(kept)
        elif sum(map(len, self.buckets.values())) > self.max_waiting:
            self._flush(max(self.buckets, key=lambda k: len(self.buckets[k])))

    def flush_all(self) -> None:
        for kept in list(self.buckets):
            self._flush(kept)

    def _flush(self, kept: int) -> None:
        items = self.buckets.pop(kept)
        if not items:
            return
        # Pad a short batch with copies of its last track: one compiled shape per length, not per count.
        xs = sharding.pad_rows(np.stack([p.x for p in items]), self.batch_size, fill="edge")
        batch = batch_maps(xs, self.cfg)
        music, nan_counts, stft = batch["music"], batch["music_nan_counts"], batch["stft"]

        for i, p in enumerate(items):
            maps = {"music": music[i], "stft": stft[i]}
            bad = [k for k, v in maps.items() if not np.isfinite(v).all()]
            if bad:
                self._fail(p.track, f"non-finite values in the {'/'.join(bad)} map")
                continue
            files, sums, mtimes = {}, {}, {}
            for kind, arr in maps.items():
                name = f"{p.track.track_id}.{kind}.npy"
                buf = io.BytesIO()
                np.save(buf, np.ascontiguousarray(arr, dtype=np.float32), allow_pickle=False)
                with atomic_write(self.directory / name) as f:
                    f.write(buf.getbuffer())
                files[kind], sums[kind] = name, hashlib.sha256(buf.getbuffer()).hexdigest()
                mtimes[kind] = (self.directory / name).stat().st_mtime_ns
            entry = dict(p.meta, files=files, file_sha256=sums, file_mtime_ns=mtimes,
                         shapes={k: list(v.shape) for k, v in maps.items()},
                         nan_counts=dict(zip(FEATURE_NAMES, map(int, nan_counts[i]))),
                         dsp_code=self.index["dsp_code"], extracted_ns=time.time_ns())
            self.index["tracks"][p.track.track_id] = entry
            self.index["failed"].pop(p.track.track_id, None)
            self.done.append(p.track.track_id)
            self._progress += 1
        self.store.save()  # after the arrays: the index never points at half files

    def _fail(self, track, cause: str) -> None:
        logging.warning("feature extraction skipped %s: %s", track.path, cause)
        # The report names the manifest row too; the index keeps the bare cause (rows move when a manifest is edited).
        origin = getattr(track, "origin", None)
        self.failed.append((str(track.path), f"{origin}: {cause}" if origin else cause))
        self.index["tracks"].pop(track.track_id, None)
        # A dated record, not just a missing entry: it must outweigh an older entry in another process's shard.
        self.index["failed"][track.track_id] = {"path": str(track.path), "cause": cause, "extracted_ns": time.time_ns()}
        self._progress += 1

    def log_crops(self) -> None:
        crops = np.array(self.crops)
        if crops.size and crops.max() > 0:
            logging.info("cropped %d of %d tracks to the end of their last %.0f s key-clarity window "
                         "(dropped %.3f-%.3f s, median %.3f s): equal lengths batch under vmap",
                         int((crops > 0).sum()), crops.size, self.cfg.key_window_s, crops.min(), crops.max(),
                         float(np.median(crops)))


def batch_maps(x: np.ndarray, cfg) -> dict[str, np.ndarray]:
    """float32 [B, n] -> dsp.feature_maps of each row, keyed by kind: music float32 [B, T, 8], music_nan_counts
    int32 [B, 8], stft float32 [B, T, bins].

    B must be a multiple of the local device count; each device computes B / n_devices tracks. The one seam tests
    replace (tests/support/fake_extraction.py) to check the cache's bookkeeping without the DSP cost.
    """
    mesh = sharding.local_mesh()
    maps = _batched(cfg, mesh)(sharding.shard_rows(x, mesh))
    return {kind: np.asarray(v) for kind, v in maps.items()}


@functools.lru_cache(maxsize=4)
def _batched(cfg, mesh):
    """Both maps of a batch in one jitted program sharded over `mesh` (dsp.features.feature_maps: one STFT for
    both; vmapped per device, see mgc_jax.sharding.batch_map)."""
    return sharding.batch_map(lambda x: feature_maps(x, cfg), mesh)


def _up_to_date(directory: pathlib.Path, entry: dict | None, track, cfg) -> bool:
    """True when a track's cache entry can be used as it is (see `extract`).

    A moved or touched audio file, or a touched .npy, whose bytes are unchanged (same SHA-256) still
    matches; its entry's path and mtimes are refreshed in place (the caller saves the index).
    """
    if entry is None:
        return False
    try:
        st = os.stat(track.path)
    except OSError:
        return False
    same_stat = (str(track.path), st.st_size, st.st_mtime_ns) == (
        entry.get("path"), entry.get("audio_bytes"), entry.get("audio_mtime_ns"))
    if not same_stat:
        if st.st_size != entry.get("audio_bytes") or _sha256(track.path) != entry.get("audio_sha256"):
            return False
    for kind, name in entry.get("files", {}).items():
        expected = [entry["n_frames"], width(kind, cfg)]
        try:
            arr = np.load(directory / name, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError):  # missing, truncated (shorter than its header says) or not .npy
            return False
        if list(arr.shape) != expected or arr.dtype != np.float32:
            return False
        # Content, by the audio's rule: an unchanged mtime vouches for the bytes, else the SHA-256 decides, so
        # a right-shaped file rewritten with other values is rebuilt without re-hashing the whole cache on
        # every run. Entries written before checksums were recorded are trusted on shape alone.
        expected_sum = entry.get("file_sha256", {}).get(kind)
        mtime = os.stat(directory / name).st_mtime_ns
        if expected_sum is not None and mtime != entry.get("file_mtime_ns", {}).get(kind):
            if _sha256(directory / name) != expected_sum:
                logging.warning("%s: content differs from its checksum in the index: extracting it again",
                                directory / name)
                return False
            entry.setdefault("file_mtime_ns", {})[kind] = mtime  # touched, same bytes
    if set(entry.get("files", {})) != set(KINDS):
        return False
    if not same_stat:
        entry.update(path=str(track.path), audio_mtime_ns=st.st_mtime_ns)
    return True


def _rotted(directory: pathlib.Path, entry: dict) -> list[tuple[str, str]]:
    """(file, why) of each .npy of an up-to-date entry whose bytes differ from the SHA-256 recorded when it was
    written, or that has no recorded SHA-256 (entries older than checksums): `extract(verify=True)`."""
    out = []
    for kind, name in sorted(entry.get("files", {}).items()):
        expected = entry.get("file_sha256", {}).get(kind)
        if expected is None:
            out.append((str(directory / name), "no checksum recorded"))
        elif _sha256(directory / name) != expected:
            out.append((str(directory / name), "content differs from its SHA-256"))
            logging.warning("%s: content differs from its checksum in the index (same mtime): extracting it again",
                            directory / name)
    return out


def _sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _check_ids(tracks: Sequence) -> None:
    ids = [t.track_id for t in tracks]
    dup = sorted(t for t, c in collections.Counter(ids).items() if c > 1)
    if dup:
        raise DataError(f"duplicate track ids: {dup[:5]}")
    unsafe = [f"{t[:60]!r} {why}" for t in ids for why in [id_problem(t)] if why]
    if unsafe:
        raise DataError(f"track ids cannot name cache files: {'; '.join(unsafe[:3])}")
