"""3 s clips of cached feature maps from whole tracks: (track, start frame) windows into read-only memory maps, spread
over each track (a bound never takes its first clips alone; WORKSPACE.md "Whole tracks"), copied only into the batch
being built, and shuffled batches whose order is a pure function of (seed, epoch).
"""
from __future__ import annotations

import mmap
from collections.abc import Callable, Iterator, Sequence
from typing import NamedTuple

import numpy as np

from mgc_jax.errors import DataError

CLIP_FRAMES = 128  # frames per clip (128 x 512 / 22050 = 2.97 s)
CLIP_HOP = 64  # frames between grid clip starts (1.49 s)


def n_windows(n_frames: int, clip_frames: int = CLIP_FRAMES, hop: int = CLIP_HOP) -> int:
    """Grid windows that fit in a track of n_frames frames: 1 + (n_frames - clip_frames) // hop, 0 if shorter."""
    if clip_frames < 1 or hop < 1:
        raise ValueError(f"clip_frames={clip_frames}, hop={hop}: both must be >= 1")
    return 0 if n_frames < clip_frames else 1 + (n_frames - clip_frames) // hop


def spread(n: int, k: int | None) -> np.ndarray:
    """int64 [min(n, k)]: k of the indices 0..n-1 spread evenly from the first, floor(j * n / k); all n when
    k is None or >= n. (n = 19, k = 18: 0..17, the paper's grid; n = 59, k = 18: 0, 3, 6, ..., 55.)"""
    if k is not None and k < 1:
        raise ValueError(f"max_clips={k}: must be >= 1 (or None for every window)")
    if k is None or k >= n:
        return np.arange(n, dtype=np.int64)
    return np.arange(k, dtype=np.int64) * n // k


def clip_starts(n_frames: int, clip_frames: int = CLIP_FRAMES, hop: int = CLIP_HOP,
                max_clips: int | None = None) -> np.ndarray:
    """Start frames of a track's clips: int64 [n_clips], on the grid 0, hop, 2 hop, ...

    Every grid window that fits (`n_windows`), or, when there are more than `max_clips`, `max_clips` of them
    spread evenly over the whole track (`spread`): never the first ones alone. 0 clips when the track is
    shorter than one clip.
    """
    return spread(n_windows(n_frames, clip_frames, hop), max_clips) * hop


def clip_order(n_clips: int, *, seed: int, epoch: int, shuffle: bool = True) -> np.ndarray:
    """int64 [n_clips]: the order an epoch visits the clips, `default_rng([seed, epoch]).permutation` (arange
    without shuffle). One home: the cached (`ClipDataset`) and online (`mgc_jax.train.online`) paths share it."""
    return np.random.default_rng([seed, epoch]).permutation(n_clips) if shuffle else np.arange(n_clips)


class ClipSlots(NamedTuple):
    """Where the clips of a list of tracks may start, clip by clip (int64 [n_clips] each)."""

    start: np.ndarray  # grid start (`clip_starts`)
    last: np.ndarray  # last start that fits in the clip's track: n_frames - CLIP_FRAMES
    slot: np.ndarray  # the clip's index j among its track's clips
    count: np.ndarray  # its track's clip count n

    @classmethod
    def of(cls, n_frames: Sequence[int], max_clips: int | None) -> "ClipSlots":
        parts = []
        for t in n_frames:
            s = clip_starts(int(t), max_clips=max_clips)
            parts.append((s, np.full(s.size, int(t) - CLIP_FRAMES), np.arange(s.size), np.full(s.size, s.size)))
        if not parts:
            return cls(*(np.zeros(0, np.int64) for _ in range(4)))
        return cls(*(np.concatenate([p[i] for p in parts]).astype(np.int64) for i in range(4)))


def train_starts(slots: ClipSlots, *, crops: str, seed: int, epoch: int) -> np.ndarray:
    """Start frames of the training clips of one epoch: int64 [n_clips].

    crops="grid": the evenly spread grid windows (`slots.start`), moved by (epoch mod s) grid hops where a track
    has s >= 2 times as many windows as clips, so that over s epochs every window of a long track is trained on
    (s = 1, no move, where the budget covers the track: the paper's grid of a 30 s track stays put). "random"
    cuts each track's start range [0, last] into its clip count n equal stretches and draws clip j's start
    uniformly in stretch j, a pure function of (seed, epoch): every epoch shows the net new crops from all over the track at the same cost
    (on a 30 s track with 18 clips a stretch is ~65 frames, about the grid's hop). Why random: on 30-40 real
    training tracks the nets fit their clips within ~10 epochs (benchmarks/real_music.md); on long tracks the
    budget samples the whole track over the epochs instead of the same few windows.
    """
    if crops == "grid":
        stride = (slots.last // CLIP_HOP + 1) // np.maximum(slots.count, 1)  # windows per clip of each track
        return np.asarray(slots.start + (epoch % np.maximum(stride, 1)) * CLIP_HOP, np.int64)
    if crops != "random":
        raise ValueError(f"crops={crops!r}: expected 'grid' or 'random'")
    u = np.random.default_rng([seed, epoch, 1]).random(slots.start.size)
    start = np.floor((slots.slot + u) * (slots.last + 1) / slots.count).astype(np.int64)
    return np.minimum(start, slots.last)


class ClipBatch(NamedTuple):
    x: dict  # kind -> float32 [B, 128, F]
    y: np.ndarray  # int32 [B] genre labels
    track: np.ndarray  # int32 [B] index of each clip's track in the dataset's track list


class ClipDataset:
    """The clips of a list of tracks, for training (`batches`) and per-track evaluation (`track_clips`).

    Args:
      cache: a `FeatureCache` (anything with `.load(track_id, kind, mmap=True) -> [T, F]`).
      track_ids: the tracks, in the order that `ClipBatch.track` and `track_clips(i)` index.
      labels: int [n_tracks] genre label of each track.
      kinds: feature maps per clip ("music" [T, 8], "stft" [T, 513]); all of a track's maps must have
        the same T.
      transform: optional `f(x: dict kind -> float32 [B, 128, F]) -> dict`, applied to every batch and
        every `track_clips` result (e.g. standardisation).
      max_clips: clips per track at most (`clip_starts`); None for every window that fits.

    Raises:
      DataError: a track shorter than one clip, maps of one track with different lengths, or a
        labels/tracks length mismatch.
    """

    def __init__(self, cache, track_ids: Sequence[str], labels, kinds: Sequence[str] = ("music",),
                 transform: Callable[[dict], dict] | None = None, max_clips: int | None = None):
        self.track_ids = tuple(track_ids)
        self.labels = np.asarray(labels, np.int32)
        self.kinds = tuple(kinds)
        self.transform = transform
        if self.labels.shape != (len(self.track_ids),):
            raise DataError(f"{len(self.track_ids)} tracks but labels of shape {self.labels.shape}")
        if not self.kinds:
            raise DataError("no feature kind given")
        self._maps: list[dict[str, np.ndarray]] = []
        starts, owners, lengths_all = [], [], []
        for i, tid in enumerate(self.track_ids):
            maps = {k: cache.load(tid, k, mmap=True) for k in self.kinds}
            for arr in maps.values():
                _advise_random(arr)
            lengths = {k: a.shape[0] for k, a in maps.items()}
            if len(set(lengths.values())) != 1:
                raise DataError(f"track {tid}: feature maps of different lengths {lengths}")
            s = clip_starts(next(iter(lengths.values())), max_clips=max_clips)
            if s.size == 0:
                raise DataError(f"track {tid}: {next(iter(lengths.values()))} frames, shorter than one "
                                f"{CLIP_FRAMES}-frame clip")
            self._maps.append(maps)
            starts.append(s)
            owners.append(np.full(s.size, i, np.int32))
            lengths_all.append(next(iter(lengths.values())))
        self._slots = ClipSlots.of(lengths_all, max_clips)
        self._start = self._slots.start
        self._track = np.concatenate(owners) if owners else np.zeros(0, np.int32)
        self._first = np.concatenate([[0], np.cumsum([s.size for s in starts])]).astype(np.int64)
        self.widths = {k: self._maps[0][k].shape[1] for k in self.kinds} if self._maps else {}

    @property
    def n_clips(self) -> int:
        return int(self._start.size)

    @property
    def n_tracks(self) -> int:
        return len(self.track_ids)

    def clips_per_track(self) -> np.ndarray:
        """int64 [n_tracks]: number of clips of each track."""
        return np.diff(self._first)

    def batches(self, batch_size: int, *, seed: int, epoch: int, shuffle: bool = True,
                crops: str = "grid") -> Iterator[ClipBatch]:
        """All clips once, in batches of `batch_size` (the last one smaller when it does not divide).

        The order is `np.random.default_rng([seed, epoch]).permutation(n_clips)` (clip order when
        shuffle=False): a pure function of (seed, epoch). crops: where the clips start (`train_starts`).
        """
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size}: must be >= 1")
        order = clip_order(self.n_clips, seed=seed, epoch=epoch, shuffle=shuffle)
        start = train_starts(self._slots, crops=crops, seed=seed, epoch=epoch)
        for a in range(0, self.n_clips, batch_size):
            idx = order[a:a + batch_size]
            track = self._track[idx]
            yield ClipBatch(self._gather(track, start[idx]), self.labels[track], track)

    def track_clips(self, i: int) -> dict[str, np.ndarray]:
        """kind -> float32 [n_clips_i, 128, F]: the clips of track i, in time order."""
        a, b = self._first[i], self._first[i + 1]
        return self._gather(np.full(b - a, i, np.int32), self._start[a:b])

    def _gather(self, track: np.ndarray, start: np.ndarray) -> dict[str, np.ndarray]:
        x = {}
        for k in self.kinds:
            out = np.empty((track.size, CLIP_FRAMES, self.widths[k]), np.float32)
            for j, (i, s) in enumerate(zip(track.tolist(), start.tolist())):
                arr = self._maps[i][k]
                out[j] = arr[s:s + CLIP_FRAMES]  # the only copy: into the batch
                _release(arr)
            x[k] = out
        return self.transform(x) if self.transform is not None else x


def _mmap_of(arr: np.ndarray) -> mmap.mmap | None:
    m = getattr(arr, "_mmap", None)
    return m if isinstance(m, mmap.mmap) and hasattr(m, "madvise") else None


def _advise_random(arr: np.ndarray) -> None:
    """Tell the kernel a memory map is read at random (no read-ahead of pages no clip needs)."""
    m = _mmap_of(arr)
    if m is not None and hasattr(mmap, "MADV_RANDOM"):
        m.madvise(mmap.MADV_RANDOM)


def _release(arr: np.ndarray) -> None:
    """Unmap the pages of a read-only memory map from this process after a clip was copied out.

    The pages stay in the kernel's page cache (a later read is a cheap minor fault), but they stop
    counting in the process's resident set: without this, drawing every clip of an epoch leaves the
    whole cache resident (file-backed) in the process. The whole track map is released, not just the
    clip's rows, because the kernel maps neighbouring cached pages on each fault ("fault-around").
    No-op for arrays that are not memory maps.
    """
    m = _mmap_of(arr)
    if m is not None and hasattr(mmap, "MADV_DONTNEED"):
        m.madvise(mmap.MADV_DONTNEED)
