"""mgc_jax.data.maps: the audio crop rule, the length buckets of `track_maps` (a cropped signal is zero-padded to a
bucket of key-window counts, so files of many lengths compile a few programs, and the maps of its real frames equal
those of the unpadded signal: tests/test_dsp_features.py checks `valid_length=`) and the map extractor.
"""
from __future__ import annotations

import numpy as np
import pytest
from padded_signals import assert_close_per_column, chords_with_a_loud_end, kept

import dsp
from mgc_jax.data import audio, maps

CFG = dsp.FeatureConfig()
LK, HK = CFG.key_window_length, CFG.key_hop_length


def test_bucket_windows_and_lengths():
    assert [maps._bucket_windows(w) for w in (1, 2, 3, 4, 5, 7, 9, 12, 17, 20, 33, 100)] == \
        [1, 2, 3, 4, 6, 8, 11, 16, 23, 23, 45, 128]
    assert maps.bucket_length(LK, CFG) == LK and maps.bucket_length(LK - 5, CFG) == LK - 5  # one window
    assert maps.bucket_length(kept(5), CFG) == kept(6)
    assert maps.bucket_length(kept(6), CFG) == kept(6)


def test_feature_maps_compile_once_per_bucket_and_equal_the_unpadded_maps():
    """Three files whose crops have 5, 6 and 6 key windows (15, 18 and 18 s): one bucket (6 windows), one program."""
    kinds = ("music", "stft")
    maps._extractor.cache_clear()
    signals = [chords_with_a_loud_end(n, i) for i, n in enumerate((kept(5) + 1000, kept(6), kept(6) + HK - 1))]
    for x in signals:
        got = maps.track_maps(x, CFG, kinds)
        n_kept = maps.crop_length(x.size, CFG)
        np.testing.assert_allclose(got["stft"], np.asarray(dsp.stft_features(x[:n_kept], CFG)), rtol=1e-6, atol=0)
        want = np.asarray(dsp.music_features(x[:n_kept], CFG))
        assert_close_per_column(got["music"], want)
    assert maps._extractor(CFG, kinds)._cache_size() == 1


def test_crop_keeps_every_frame_window_and_key_window():
    assert maps.crop_length(661794, CFG) == 661500  # GTZAN's usual 30.013 s -> 30.000 s
    assert dsp.n_frames(661500, CFG) == 1290
    for n in [1024, 50_000, 132_300, 132_301, 200_000, 661_500, 664_180, 1_000_000]:
        kept = maps.crop_length(n, CFG)
        assert kept <= n
        if n <= CFG.key_window_length:
            assert kept == n  # one key window over the whole signal: nothing may go
        else:
            assert dsp.n_key_windows(kept, CFG) == dsp.n_key_windows(n, CFG)
            assert n - kept < CFG.key_hop_length
            # every kept frame lies inside the kept samples, so it equals the uncropped frame
            assert CFG.frame_length + (dsp.n_frames(kept, CFG) - 1) * CFG.hop_length <= kept


# ------------------------------------------------------------------------------------- long tracks, in blocks


def _varied(seconds: float, seed: int = 0) -> np.ndarray:
    """A chord that glides and changes key, over noise, with a near-silent passage (MinRMS trims frames there)."""
    sr = 22050
    t = np.arange(int(seconds * sr)) / sr
    rng = np.random.default_rng(seed)
    f0 = 220 * 2 ** (np.floor(t / 7) / 12)  # a semitone up every 7 s: the key clarity moves
    x = sum(np.sin(2 * np.pi * f0 * r * t * (1 + 0.002 * np.sin(t))) for r in (1, 1.26, 1.5)) / 4
    x = x + 0.05 * rng.standard_normal(t.size)
    x[int(2 * sr):int(5 * sr)] *= 1e-3
    return x.astype(np.float32)


def _assert_maps_equal(whole: dict, blocks: dict) -> None:
    for kind, w in whole.items():
        b = blocks[kind]
        assert b.shape == w.shape, kind
        # float32 rounding only: roughness sums ~500 products per frame in another order (~1e-7 relative)
        scale = np.abs(w).max(axis=0, keepdims=True) + 1e-30
        np.testing.assert_allclose(b / scale, w / scale, rtol=0, atol=2e-6, err_msg=kind)


@pytest.mark.parametrize("kinds", [("music", "stft"), ("stft",), ("music",)])
def test_blockwise_maps_equal_the_whole_track_maps(monkeypatch, kinds):
    cfg = dsp.FeatureConfig()
    x = _varied(40.3)
    whole = maps.track_maps(x, cfg, kinds)
    monkeypatch.setattr(maps, "BLOCK_FRAMES", 512)  # 1678 frames: 4 blocks, key windows in groups of 4
    monkeypatch.setattr(maps, "KEY_GROUP", 4)
    blocks, counts = maps.track_maps_blockwise(x, cfg, kinds)
    _assert_maps_equal(whole, blocks)
    if "music" in kinds:
        kept = maps.crop_length(x.size, cfg)
        np.testing.assert_array_equal(counts, np.asarray(dsp.music_features_with_nan_counts(x[:kept], cfg)[1]))
        assert counts[dsp.FEATURE_NAMES.index("flatness")] > 0  # the quiet passage is trimmed, in every block alike


def test_blockwise_maps_of_a_real_track(monkeypatch, shared_dir):
    clips = sorted((shared_dir / "gtzan_dev").glob("*/*.au"))[:1]
    if not clips:
        pytest.skip(f"no GTZAN dev clip under {shared_dir}")
    cfg = dsp.FeatureConfig()
    x = audio.load(clips[0])
    whole = maps.track_maps(x, cfg, ("music", "stft"))
    monkeypatch.setattr(maps, "BLOCK_FRAMES", 512)
    monkeypatch.setattr(maps, "KEY_GROUP", 4)
    blocks, _ = maps.track_maps_blockwise(x, cfg, ("music", "stft"))
    _assert_maps_equal(whole, blocks)


@pytest.mark.slow
def test_blockwise_maps_of_a_long_track_at_the_default_block_size():
    cfg = dsp.FeatureConfig()
    x = np.concatenate([_varied(60.0, seed) * (0.5 + 0.1 * seed) for seed in range(6)])  # 6 min: 2 blocks
    assert dsp.n_frames(maps.crop_length(x.size, cfg), cfg) > maps.BLOCK_FRAMES
    whole = maps.track_maps(x, cfg, ("music", "stft"))
    blocks, _ = maps.track_maps_blockwise(x, cfg, ("music", "stft"))
    _assert_maps_equal(whole, blocks)


def test_track_clips_computes_only_the_blocks_the_clips_need(monkeypatch):
    cfg = dsp.FeatureConfig()
    x = _varied(40.3)
    whole = maps.track_maps(x, cfg, ("music", "stft"))
    monkeypatch.setattr(maps, "BLOCK_FRAMES", 512)
    monkeypatch.setattr(maps, "KEY_GROUP", 4)
    rows = []
    block_rows = maps.block_rows
    monkeypatch.setattr(maps, "block_rows", lambda *a: rows.append(a[-2:]) or block_rows(*a))
    starts = np.array([0, 64, 1000, 1500])
    got = list(maps.track_clips(x, cfg, ("music", "stft"), starts))
    assert rows == [(0, 192), (1000, 1128), (1500, 1628)]  # three small ranges, not the 1678 frames
    clips = {k: np.concatenate([g[k] for g in got]) for k in ("music", "stft")}
    _assert_maps_equal(maps.clips_at(whole, starts), clips)


def test_blockwise_maps_of_a_track_of_one_key_window(monkeypatch):
    cfg = dsp.FeatureConfig()
    x = _varied(5.0)  # <= 6 s: one key window of all its samples
    whole = maps.track_maps(x, cfg, ("music",))
    monkeypatch.setattr(maps, "BLOCK_FRAMES", 128)
    blocks, _ = maps.track_maps_blockwise(x, cfg, ("music",))
    _assert_maps_equal(whole, blocks)
