"""Batched, resumable, multi-process extraction of the feature cache (layout and reader: `mgc_jax.data.cache`).

Each track is cropped by `maps.crop_length` (a rule of the track alone, so its maps never depend on its batch)
and its maps computed with `dsp.feature_maps`, vmapped over batches of equal-length tracks (a track longer than
LONG_TRACK_FRAMES alone, block by block, in bounded memory); files are decoded
in worker threads ahead of the maps and written in the background (`mgc_jax.data.pipeline`). A bad file is
recorded with its cause and skipped; a killed run resumes from the tracks already in the index.
"""
from __future__ import annotations

import collections
import contextlib
import errno
import functools
import hashlib
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
from mgc_jax.data import audio, pipeline
from mgc_jax.data.cache import (
    FLOAT16_MAX,
    INDEX_FORMAT,
    KINDS,
    STORAGE_DTYPES,
    IndexStore,
    _read_index,
    stored_dtype,
    width,
    write_maps,
)
from mgc_jax.data.maps import BLOCK_FRAMES, crop_length, track_maps_blockwise
from mgc_jax.data.track import id_problem
from mgc_jax.errors import AudioError, DataError

# Audio waiting in the length buckets is flushed beyond 4 batches of tracks or 4 x batch_size x this many seconds
# (32 minutes, 170 MB of float32 at 22,050 Hz, for batches of 8), so a corpus of many lengths or long files
# holds a bounded amount of decoded audio.
_WAITING_SECONDS = 60
# A track of more frames than this (12.7 min at the defaults) is computed alone and block by block
# (`maps.track_maps_blockwise`): whole, its maps would cost ~7 GB of working memory per hour of audio.
LONG_TRACK_FRAMES = 4 * BLOCK_FRAMES


def default_decode_threads() -> int:
    """Decoding threads of `extract` by default: one per CPU core this process may use (at most 8)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(8, cores))


class ExtractReport(NamedTuple):
    done: list[str]  # track ids extracted by this call
    skipped: list[str]  # track ids already cached and up to date (no work)
    failed: list[tuple[str, str]]  # (audio path, cause) of tracks that could not be extracted
    seconds: float = 0.0  # wall time of this call's extraction (reading, compiling, computing, writing)
    verified: int = 0  # with verify=True: .npy files re-hashed
    rotted: tuple[tuple[str, str], ...] = ()  # with verify=True: (file, why) of each one extracted again


def extract(tracks: Sequence, cache_dir: str | os.PathLike, cfg, *, batch_size: int = 8,
            progress: bool = True, verify: bool = False, decode_threads: int | None = None,
            stft_dtype: str | None = None) -> ExtractReport:
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
      decode_threads: threads decoding and resampling files ahead of the maps (None: `default_decode_threads()`);
        0 decodes in the calling thread, one file after another (a serial run: same maps, same index).
      stft_dtype: how STFT maps are stored: "float16" halves the cache (relative rounding <= 2^-11; WORKSPACE.md,
        "Data decisions"; a map beyond float16's range stays float32), "float32", or None: cached maps as they
        are, new ones float32. Maps cached in the other dtype are extracted again when one is named.

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
    if stft_dtype not in (None, *STORAGE_DTYPES):
        raise ValueError(f"stft_dtype={stft_dtype!r}: expected one of {STORAGE_DTYPES} or None")
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
    store = IndexStore(directory, index, tracks)

    skipped, todo, rotted, verified = [], [], [], 0
    before = repr(index["tracks"])
    for t in store.mine:
        entry = index["tracks"].get(t.track_id)
        if not _up_to_date(directory, entry, t, cfg, stft_dtype):
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
    threads = default_decode_threads() if decode_threads is None else decode_threads
    # A batch is padded to batch_size rows: rows beyond the tracks there are would hold memory for audio that is not
    # there (--batch_size=100000 asks for 260 GB). Up to the default 8 rows stay as asked (same compiled shapes).
    rows = min(batch_size, max(len(todo), 8))
    if rows < batch_size:
        logging.info("batch_size=%d is larger than the %d tracks to extract: batches of %d", batch_size, len(todo),
                     rows)
    run = _Run(index, cfg, rows, store, stft_dtype or "float32")
    with tqdm(total=len(todo), disable=not progress, unit="track", desc="features") as run.bar:
        try:
            ahead = pipeline.ordered(run.decode, todo, workers=threads, ahead=2 * threads)
            with contextlib.closing(ahead) as decoded:
                for t, result in decoded:
                    run.add(t, result)
            run.finish()
        except BaseException:
            # Ctrl-C or an error here: what was computed is still written and indexed, so a rerun resumes there.
            run.close()
            raise
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


class _Run:
    """One extraction, in stages (`mgc_jax.data.pipeline`): files decoded in worker threads (`decode`), buckets of
    equal-length audio flushed as batches (`add`, the caller's thread), their maps started on the local devices
    (`_maps`, a thread), written and recorded in the index on a writer thread (`_write`), in order."""

    def __init__(self, index, cfg, batch_size, store: IndexStore, stft_dtype: str, writer_depth: int = 2):
        self.directory, self.index, self.cfg, self.store = store.directory, index, cfg, store
        self.stft_dtype = stft_dtype
        self.mesh = sharding.local_mesh()
        # Whole rows per device: one compiled shape per track length for full batches.
        self.batch_size = sharding.padded_size(batch_size, self.mesh)
        self.buckets: dict[int, list[_Pending]] = collections.defaultdict(list)
        self.shapes: set[tuple[int, int]] = set()  # (rows, samples) of the batches computed so far
        self.done: list[str] = []
        self.failed: list[tuple[str, str]] = []
        self.crops: list[float] = []  # seconds dropped per track
        self.bar = None  # a tqdm bar, advanced by the writer
        # Tracks of rare lengths wait in their bucket; beyond this many waiting (or this much audio), the
        # fullest bucket goes, which bounds memory for corpora of many lengths and for long files.
        self.max_waiting = 4 * self.batch_size
        self.max_waiting_samples = self.max_waiting * _WAITING_SECONDS * cfg.sample_rate
        self.writer = pipeline.Background(self._write, depth=writer_depth)
        # Batches go to JAX from their own thread: a compilation (seconds, once per length) does not stop this
        # thread from taking decoded files, so decoding goes on meanwhile.
        self.maps = pipeline.Background(self._maps, depth=2, name="mgc-maps")

    def decode(self, track) -> _Pending | str:
        """A track's cropped samples and index metadata, or the cause it cannot be extracted (any thread)."""
        try:
            digest = _sha256(track.path)
            st = os.stat(track.path)
            decoded = audio.decode(track.path, self.cfg.sample_rate)
        except AudioError as e:
            return e.cause
        except OSError as e:
            return f"unreadable ({e})"
        x = decoded.samples
        if decoded.warnings:  # extracted all the same: the classes decide whether silence or the like is music
            logging.warning("%s: %s", track.path, "; ".join(decoded.warnings))
        n = x.size
        kept = crop_length(n, self.cfg)
        if n_frames(kept, self.cfg) < 1:
            return (f"too short: {n} samples at {self.cfg.sample_rate} Hz, "
                    f"less than one {self.cfg.frame_length}-sample frame")
        meta = {"path": str(track.path), "genre": track.genre, "audio_sha256": digest,
                "audio_bytes": st.st_size, "audio_mtime_ns": st.st_mtime_ns,
                "duration_s": n / self.cfg.sample_rate, "n_samples": n, "n_samples_kept": kept,
                "n_frames": n_frames(kept, self.cfg), "warnings": list(decoded.warnings)}
        return _Pending(track, x[:kept], meta)

    def add(self, track, decoded: _Pending | str) -> None:
        if isinstance(decoded, str):
            self.writer.put(("failed", track, decoded))
            return
        kept = decoded.x.size
        self.crops.append(decoded.meta["duration_s"] - kept / self.cfg.sample_rate)
        if decoded.meta["n_frames"] > LONG_TRACK_FRAMES:
            self.maps.put(([decoded], None))
            return
        bucket = self.buckets[kept]
        bucket.append(decoded)
        if len(bucket) == self.batch_size:
            self._flush(kept)
        elif (sum(map(len, self.buckets.values())) > self.max_waiting
              or sum(k * len(b) for k, b in self.buckets.items()) > self.max_waiting_samples):
            self._flush(max(self.buckets, key=lambda k: k * len(self.buckets[k])))

    def finish(self) -> None:
        """Flush what waits in the buckets and wait for every write."""
        for kept in list(self.buckets):
            self._flush(kept)
        self.maps.close()
        self.writer.close()

    def close(self) -> None:
        """After an interrupt or error: what was computed is still written and indexed, so a rerun resumes there."""
        self.maps.close(raise_error=False)
        self.writer.close(raise_error=False)

    def _flush(self, kept: int) -> None:
        items = self.buckets.pop(kept)
        if not items:
            return
        # A short batch is padded with copies of its last track: to a row count already compiled for this
        # length if there is one (no new compilation), else only to whole rows per device (a long file of its
        # own length is not computed batch_size times). A track's maps do not depend on its batch.
        rows = min((r for r, n in self.shapes if n == kept and r >= len(items)),
                   default=sharding.padded_size(len(items), self.mesh))
        self.shapes.add((rows, kept))
        xs = sharding.pad_rows(np.stack([p.x for p in items]), rows, fill="edge")
        self.maps.put((items, xs))

    def _maps(self, job) -> None:
        """The maps thread's work: a batch's maps (xs None: one long track's, block by block), handed to the writer."""
        items, xs = job
        if xs is None:
            maps, counts = track_maps_blockwise(items[0].x, self.cfg, KINDS)
            batch = {"music": maps["music"][None], "stft": maps["stft"][None], "music_nan_counts": counts[None]}
        else:
            batch = batch_maps(xs, self.cfg)
        self.writer.put(("batch", items, batch))

    def _write(self, job) -> None:
        """The writer thread's work: one batch's arrays and index entries, or one failure record."""
        if job[0] == "failed":
            return self._fail(job[1], job[2])
        _, items, batch = job
        music, nan_counts, stft = batch["music"], batch["music_nan_counts"], batch["stft"]
        for i, p in enumerate(items):
            maps = {"music": music[i], "stft": stft[i]}
            bad = [k for k, v in maps.items() if not np.isfinite(v).all()]
            if bad:
                self._fail(p.track, f"non-finite values in the {'/'.join(bad)} map")
                continue
            # float16 storage only where every value fits (a map of unscaled float audio may not)
            dtypes = {"stft": self.stft_dtype if self.stft_dtype == "float32"
                      or np.abs(maps["stft"]).max() <= FLOAT16_MAX else "float32"}
            entry = dict(p.meta, **write_maps(self.directory, p.track.track_id, maps, dtypes),
                         shapes={k: list(v.shape) for k, v in maps.items()},
                         nan_counts=dict(zip(FEATURE_NAMES, map(int, nan_counts[i]))),
                         dsp_code=self.index["dsp_code"], extracted_ns=time.time_ns())
            self.index["tracks"][p.track.track_id] = entry
            self.index["failed"].pop(p.track.track_id, None)
            self.done.append(p.track.track_id)
            self._advance()
        self.store.save()  # after the arrays: the index never points at half files

    def _fail(self, track, cause: str) -> None:
        logging.warning("feature extraction skipped %s: %s", track.path, cause)
        # The report names the manifest row too; the index keeps the bare cause (rows move when a manifest is edited).
        origin = getattr(track, "origin", None)
        self.failed.append((str(track.path), f"{origin}: {cause}" if origin else cause))
        self.index["tracks"].pop(track.track_id, None)
        # A dated record, not just a missing entry: it must outweigh an older entry in another process's shard.
        self.index["failed"][track.track_id] = {"path": str(track.path), "cause": cause, "extracted_ns": time.time_ns()}
        self._advance()

    def _advance(self) -> None:
        if self.bar is not None:
            self.bar.update(1)

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


def _up_to_date(directory: pathlib.Path, entry: dict | None, track, cfg, stft_dtype: str | None = None) -> bool:
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
        if list(arr.shape) != expected or arr.dtype != stored_dtype(entry, kind):
            return False
        if kind == "stft" and stft_dtype not in (None, stored_dtype(entry, kind)) and (
                stft_dtype == "float32" or np.abs(arr).max() <= FLOAT16_MAX):  # (a float16 request may keep float32)
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
