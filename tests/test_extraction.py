"""mgc_jax.data.extraction: audio files -> feature maps in the cache; each bad file is skipped with its cause and
the good ones beside it get their own maps."""
from __future__ import annotations

import numpy as np
import pytest
from bad_audio import LENGTH, LOADS, REFUSED, TOO_SHORT_TO_EXTRACT, N, track_id

import dsp
from mgc_jax.data import audio, maps

CFG = dsp.FeatureConfig()


def test_extraction_skips_each_bad_file_with_its_cause_and_loses_nothing(bad_corpus, bad_corpus_extracted):
    _, paths = bad_corpus
    report, fc, _ = bad_corpus_extracted
    failed = dict(report.failed)
    by_path = {str(p): n for n, p in paths.items()}
    # Nothing lost, nothing twice: every file is either bad_corpus_extracted or reported.
    assert sorted(report.done + [track_id(by_path[p]) for p in failed]) == sorted(map(track_id, paths))
    assert not report.skipped
    expected_failures = {n: r.cause for n, r in REFUSED.items()} | {"short_frame": TOO_SHORT_TO_EXTRACT}
    assert {by_path[p] for p in failed} == set(expected_failures)
    # cache.py reads the file's bytes (for its SHA-256) before audio.load, so a directory fails there first:
    # "unreadable ([Errno 21] Is a directory: ...)", which still says what is wrong.
    expected_failures["directory"] = "unreadable ([Errno 21] Is a directory"
    for name, cause in expected_failures.items():
        assert failed[str(paths[name])].startswith(cause), (name, failed[str(paths[name])])
    assert sorted(fc.entries()) == sorted(report.done)


@pytest.mark.parametrize("name", ["good_a", "good_b"] + [c for c in LOADS if c != "short_frame"])
def test_extracted_maps_are_finite_and_cropped_like_the_cache_says(name, bad_corpus_extracted):
    _, fc, _ = bad_corpus_extracted
    entry = fc.entries()[track_id(name)]
    n = LENGTH.get(name, N)
    assert entry["n_samples"] == n and entry["n_samples_kept"] == maps.crop_length(n, CFG)
    t = dsp.n_frames(maps.crop_length(n, CFG), CFG)
    music, stft = fc.load(track_id(name), "music"), fc.load(track_id(name), "stft")
    assert music.shape == (t, 8) and stft.shape == (t, 513) and entry["n_frames"] == t
    assert np.isfinite(music).all() and np.isfinite(stft).all()
    if name == "ten_minutes":
        assert t == 25838  # 600 s end exactly on a key-window boundary: nothing cropped
    trimmed = [entry["nan_counts"][c] for c in ("brightness", "flatness", "entropy")]
    assert trimmed == ([t] * 3 if name == "zeros" else [0] * 3)


def test_good_tracks_beside_bad_ones_get_their_own_features(bad_corpus, bad_corpus_extracted):
    _, fc, _ = bad_corpus_extracted
    x = audio.load(bad_corpus[1]["good_a"])
    # A vmapped batch of two vs one direct call: the same XLA ops up to fusion order (float32 rounding).
    np.testing.assert_allclose(fc.load("blues.00000", "music"), dsp.music_features(x, CFG), rtol=1e-5, atol=1e-5)
