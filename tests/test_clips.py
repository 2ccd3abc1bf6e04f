"""mgc_jax.data.clips: clip positions, seeded batches that visit every clip once, windows into memory maps."""
from __future__ import annotations

import collections
import tracemalloc

import numpy as np
import pytest

from mgc_jax.data.clips import (
    CLIP_FRAMES,
    CLIP_HOP,
    MAX_CLIPS,
    ClipBatch,
    ClipDataset,
    clip_starts,
)
from mgc_jax.errors import DataError

CLIPS_PER_30S_TRACK = 18  # docs/features.md §1.9


class NpyCache:
    """Minimal FeatureCache: one .npy per (track, kind) in a folder, loaded as read-only memory maps."""

    def __init__(self, directory, maps: dict[tuple[str, str], np.ndarray]):
        self.directory = directory
        for (tid, kind), arr in maps.items():
            np.save(directory / f"{tid}.{kind}.npy", arr)

    def load(self, track_id, kind, mmap=True):
        return np.load(self.directory / f"{track_id}.{kind}.npy", mmap_mode="r" if mmap else None)


def _maps(lengths, widths={"music": 8, "stft": 513}):
    """Position-coded values: map[t, f] = track * 1e4 + 10 t + f % 10 (exact in float32 at these sizes)."""
    out = {}
    for i, n in enumerate(lengths):
        for kind, w in widths.items():
            out[(f"t{i}", kind)] = (i * 1e4 + np.arange(n)[:, None] * 10 + np.arange(w)[None, :] % 10).astype(np.float32)
    return out


@pytest.fixture
def dataset(tmp_path):
    lengths = [1290, 1291, 200, 128]
    cache = NpyCache(tmp_path, _maps(lengths))
    return ClipDataset(cache, [f"t{i}" for i in range(4)], [3, 1, 4, 1], kinds=("music", "stft")), lengths


def test_clip_starts():
    assert (CLIP_FRAMES, CLIP_HOP, MAX_CLIPS) == (128, 64, CLIPS_PER_30S_TRACK)
    assert clip_starts(1290).tolist() == list(range(0, 1089, 64))  # docs/features.md §1.9: 0, 64, ..., 1088
    assert len(clip_starts(1291)) == len(clip_starts(1216)) == CLIPS_PER_30S_TRACK
    assert [len(clip_starts(n)) for n in (0, 127, 128, 191, 192, 1215)] == [0, 0, 1, 1, 2, 17]  # as many as fit
    assert len(clip_starts(1290, max_clips=None)) == 19 and len(clip_starts(5000, max_clips=None)) == 77
    assert clip_starts(1290).dtype == np.int64
    with pytest.raises(ValueError):
        clip_starts(10, hop=0)


def test_batches_visit_every_clip_once_with_the_right_windows(dataset):
    ds, lengths = dataset
    expected = 18 + 18 + 2 + 1
    assert ds.n_clips == expected and ds.n_tracks == 4 and ds.clips_per_track().tolist() == [18, 18, 2, 1]
    seen = collections.Counter()
    sizes = []
    for b in ds.batches(7, seed=0, epoch=0):
        assert isinstance(b, ClipBatch) and b.x["music"].dtype == np.float32
        assert b.x["music"].shape[1:] == (128, 8) and b.x["stft"].shape[1:] == (128, 513)
        sizes.append(len(b.y))
        for j in range(len(b.y)):
            i = b.track[j]
            assert b.y[j] == ds.labels[i]
            start = int(round((b.x["music"][j, 0, 0] - i * 1e4) / 10))  # decode the position
            np.testing.assert_array_equal(b.x["stft"][j], ds._maps[i]["stft"][start:start + 128])
            seen[(int(i), start)] += 1
    assert sizes == [7] * (expected // 7) + [expected % 7]  # the last batch is short, never padded
    assert set(seen.values()) == {1} and len(seen) == expected
    assert {s for (i, s) in seen if i == 2} == {0, 64}


def test_batch_order_is_a_pure_function_of_seed_and_epoch(dataset):
    ds, _ = dataset

    def order(**kw):
        return [(b.track.tolist(), b.x["music"][:, 0, 0].tolist()) for b in ds.batches(5, **kw)]

    assert order(seed=3, epoch=2) == order(seed=3, epoch=2)
    assert order(seed=3, epoch=2) != order(seed=3, epoch=3) != order(seed=4, epoch=2)
    unshuffled = [t for b in ds.batches(100, seed=0, epoch=0, shuffle=False) for t in b.track.tolist()]
    assert unshuffled == sorted(unshuffled)


def test_track_clips_are_the_tracks_windows_in_time_order(dataset):
    ds, lengths = dataset
    clips = ds.track_clips(1)
    assert clips["stft"].shape == (18, 128, 513)
    for j, s in enumerate(clip_starts(lengths[1])):
        np.testing.assert_array_equal(clips["music"][j], ds._maps[1]["music"][s:s + 128])


def test_transform_applies_to_batches_and_track_clips(tmp_path):
    cache = NpyCache(tmp_path, _maps([300], {"music": 8}))
    ds = ClipDataset(cache, ["t0"], [0], transform=lambda x: {k: v * 0 + 7 for k, v in x.items()})
    assert np.all(next(ds.batches(2, seed=0, epoch=0)).x["music"] == 7)
    assert np.all(ds.track_clips(0)["music"] == 7)


def test_clips_are_windows_into_memory_maps_not_copies(tmp_path):
    n_tracks, frames, bins = 12, 1290, 513
    cache = NpyCache(tmp_path, {(f"t{i}", "stft"): np.ones((frames, bins), np.float32) for i in range(n_tracks)})
    tracemalloc.start()
    ds = ClipDataset(cache, [f"t{i}" for i in range(n_tracks)], np.zeros(n_tracks), kinds=("stft",))
    _, peak_build = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    for _ in ds.batches(20, seed=0, epoch=0):
        pass
    _, peak_draw = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    data = n_tracks * frames * bins * 4  # 31.8 MB of maps; their 216 clips would be 56.7 MB as copies
    batch = 20 * 128 * bins * 4  # 5.3 MB
    # Building maps nothing into Python memory (1 MB covers the index arrays); drawing holds about one
    # batch at a time (plus the one being built).
    assert peak_build < 1e6 < data
    assert peak_draw < 2.5 * batch
    assert all(isinstance(m["stft"], np.memmap) for m in ds._maps)


def test_bad_inputs_are_refused(tmp_path):
    cache = NpyCache(tmp_path, {("a", "music"): np.zeros((200, 8), np.float32),
                                ("a", "stft"): np.zeros((201, 513), np.float32),
                                ("b", "music"): np.zeros((100, 8), np.float32)})
    with pytest.raises(DataError, match="different lengths"):
        ClipDataset(cache, ["a"], [0], kinds=("music", "stft"))
    with pytest.raises(DataError, match="shorter than one 128-frame clip"):
        ClipDataset(cache, ["b"], [0])
    with pytest.raises(DataError, match="labels"):
        ClipDataset(cache, ["a"], [0, 1])


def test_random_crops_move_each_clip_within_its_track_and_are_seeded(dataset):
    from mgc_jax.data.clips import train_starts

    ds, lengths = dataset
    grid = {(int(t), int(round((x[0, 0] - t * 1e4) / 10))) for b in ds.batches(50, seed=0, epoch=0)
            for t, x in zip(b.track, b.x["music"])}

    def starts(**kw):
        out = []
        for b in ds.batches(50, shuffle=False, crops="random", **kw):
            for t, x, s in zip(b.track, b.x["music"], b.x["stft"]):
                start = int(round((x[0, 0] - t * 1e4) / 10))
                np.testing.assert_array_equal(s, ds._maps[t]["stft"][start:start + 128])  # a real window
                out.append((int(t), start))
        return out

    got = starts(seed=0, epoch=1)
    assert len(got) == ds.n_clips and got == starts(seed=0, epoch=1)  # a pure function of (seed, epoch)
    assert got != starts(seed=0, epoch=2) and got != starts(seed=1, epoch=1)
    ordered = sorted(grid)
    for (t, s), (t0, s0) in zip(got, ordered):  # clip j of the grid moved forward by < CLIP_HOP frames
        assert t == t0 and s0 <= s < s0 + CLIP_HOP and s + CLIP_FRAMES <= lengths[t]
    assert (3, 0) in got  # the 128-frame track has one window: it cannot move
    assert sum(s != s0 for (_, s), (_, s0) in zip(got, ordered)) > ds.n_clips // 2
    np.testing.assert_array_equal(train_starts(np.array([0, 64]), np.array([100, 100]), crops="grid", seed=0,
                                               epoch=0), [0, 64])
    with pytest.raises(ValueError, match="crops='jitter'"):
        train_starts(np.array([0]), np.array([0]), crops="jitter", seed=0, epoch=0)
