"""mgc_jax.data.maps: the audio crop rule, the length buckets of `track_maps` (a cropped signal is zero-padded to a
bucket of key-window counts, so files of many lengths compile a few programs, and the maps of its real frames equal
those of the unpadded signal: tests/test_dsp_features.py checks `valid_length=`) and the map extractor.
"""
from __future__ import annotations

import numpy as np
from padded_signals import assert_close_per_column, chords_with_a_loud_end, kept

import dsp
from mgc_jax.data import maps

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
