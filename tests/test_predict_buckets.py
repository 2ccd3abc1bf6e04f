"""Length buckets of `mgc_jax.data.maps.track_maps` (issue 15): a cropped signal is zero-padded to a bucket of
key-window counts, so files of many lengths compile a few programs, and `dsp.music_features(valid_length=)` keeps
the padding out of the track-global steps: the maps of the real frames equal those of the unpadded signal.
"""
from __future__ import annotations

import numpy as np
import pytest

import dsp
from mgc_jax.data import maps

CFG = dsp.FeatureConfig()
SR = CFG.sample_rate
LK, HK = CFG.key_window_length, CFG.key_hop_length


def _kept(windows: int) -> int:
    return LK + (windows - 1) * HK


def _chords_with_a_loud_end(n: int, seed: int) -> np.ndarray:
    """Key-centred chords over noise, the last 300 samples a full-scale burst: the burst lies past the last full
    frame, so only a padded signal's extra frames see all of it (their spectra outweigh every real frame's)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / SR
    freqs = (261.6, 329.6, 392.0) if seed % 2 else (220.0, 261.6, 329.6)
    x = sum(np.sin(2 * np.pi * f * t) for f in freqs) / 8 + 0.01 * rng.standard_normal(n)
    x[-300:] = 0.95 * np.sign(rng.standard_normal(300))
    return x.astype(np.float32)


def _assert_close(got, want, tol=1e-5):
    """Each column within tol of its largest |value| (the columns differ by 1e5 in scale)."""
    scale = np.maximum(np.abs(want).max(0), 1e-12)
    worst = (np.abs(got - want).max(0) / scale)
    assert (worst <= tol).all(), worst


def test_bucket_windows_and_lengths():
    assert [maps._bucket_windows(w) for w in (1, 2, 3, 4, 5, 7, 9, 12, 17, 20, 33, 100)] == \
        [1, 2, 3, 4, 6, 8, 11, 16, 23, 23, 45, 128]
    assert maps.bucket_length(LK, CFG) == LK and maps.bucket_length(LK - 5, CFG) == LK - 5  # one window
    assert maps.bucket_length(_kept(5), CFG) == _kept(6)
    assert maps.bucket_length(_kept(6), CFG) == _kept(6)


def _real_clip():
    from conftest import SHARED

    from mgc_jax.data import audio

    paths = sorted((SHARED / "gtzan_dev").glob("*/*.au")) if SHARED.is_dir() else []
    return audio.load(paths[0])[: _kept(5)] if paths else None


@pytest.mark.parametrize("source", ["real GTZAN clip", "loud end"])
def test_music_map_of_a_padded_signal_with_its_valid_length_equals_the_unpadded_one(source):
    import jax

    x = _real_clip() if source == "real GTZAN clip" else _chords_with_a_loud_end(_kept(5), 1)
    if x is None:
        pytest.skip("no ../shared/gtzan_dev")
    t = dsp.n_frames(x.size, CFG)
    want = np.asarray(dsp.music_features(x, CFG))
    padded = np.zeros(_kept(8), np.float32)
    padded[: x.size] = x
    got = np.asarray(jax.jit(lambda v, n: dsp.music_features(v, CFG, valid_length=n))(padded, np.int32(x.size)))
    _assert_close(got[:t], want)
    unmasked = np.asarray(dsp.music_features(padded, CFG))[:t]  # without valid_length the padding leaks in
    key = dsp.FEATURE_NAMES.index("key_clarity")
    assert not np.allclose(unmasked[:, key], want[:, key], atol=1e-5)


def test_valid_length_equal_to_the_length_changes_nothing():
    x = _chords_with_a_loud_end(_kept(2) + 777, 2)
    np.testing.assert_array_equal(np.asarray(dsp.music_features(x, CFG, valid_length=x.size)),
                                  np.asarray(dsp.music_features(x, CFG)))


def test_feature_maps_compile_once_per_bucket_and_equal_the_unpadded_maps():
    """Three files whose crops have 5, 6 and 6 key windows (15, 18 and 18 s): one bucket (6 windows), one program."""
    kinds = ("music", "stft")
    maps._extractor.cache_clear()
    signals = [_chords_with_a_loud_end(n, i) for i, n in enumerate((_kept(5) + 1000, _kept(6), _kept(6) + HK - 1))]
    for x in signals:
        got = maps.track_maps(x, CFG, kinds)
        kept = maps.crop_length(x.size, CFG)
        np.testing.assert_allclose(got["stft"], np.asarray(dsp.stft_features(x[:kept], CFG)), rtol=1e-6, atol=0)
        want = np.asarray(dsp.music_features(x[:kept], CFG))
        _assert_close(got["music"], want)
    assert maps._extractor(CFG, kinds)._cache_size() == 1
