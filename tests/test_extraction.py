"""mgc_jax.data.extraction: audio files -> feature maps in the cache; each bad file is skipped with its cause and
the good ones beside it get their own maps."""
from __future__ import annotations

import json
import pathlib

import fake_extraction
import numpy as np
import pytest
import soundfile as sf
from bad_audio import LENGTH, LOADS, REFUSED, TOO_SHORT_TO_EXTRACT, N, track_id
from damaged_files import npy, rot_keeping_mtime
from full_disk import fill_disk_after

import dsp
from mgc_jax.data import audio, cache, extraction, maps
from mgc_jax.data.track import Track
from mgc_jax.errors import DiskFullError

CFG = dsp.FeatureConfig()


def test_extraction_skips_each_bad_file_with_its_cause_and_loses_nothing(bad_corpus, bad_corpus_extracted):
    _, paths = bad_corpus
    report, fc, _ = bad_corpus_extracted
    failed = dict(report.failed)
    by_path = {str(p): n for n, p in paths.items()}
    # Nothing lost, nothing twice: every file is either extracted or reported.
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


@pytest.mark.parametrize("damage", ["wrong shape", "wrong width", "float64", "garbage bytes"])
def test_extract_rebuilds_an_array_of_the_wrong_shape_or_type(fake_extracted, damage):
    tracks, directory = fake_extracted
    path = npy(directory)
    good = np.load(path)
    bad = {"wrong shape": good[:-1], "wrong width": good[:, :7], "float64": good.astype(np.float64)}.get(damage)
    if bad is None:
        path.write_bytes(b"\x00\xffnot an array" * 10)
    else:
        np.save(path, bad)
    report = extraction.extract(tracks, directory, CFG, progress=False)
    assert report.done == ["blues.00000"] and report.skipped == ["blues.00001"]
    np.testing.assert_array_equal(cache.FeatureCache(directory).load("blues.00000", "music"), good)


def test_extract_rebuilds_an_array_whose_content_changed(fake_extracted):
    tracks, directory = fake_extracted
    path = npy(directory)
    damaged = np.load(path)
    damaged[3, 2] = np.nan
    np.save(path, damaged)
    report = extraction.extract(tracks, directory, CFG, progress=False)
    assert report.done == ["blues.00000"]
    assert np.isfinite(cache.FeatureCache(directory).load("blues.00000", "music")).all()


def test_extract_hashes_only_arrays_whose_mtime_changed(fake_extracted, monkeypatch):
    tracks, directory = fake_extracted
    hashed = []
    real_sha256 = extraction._sha256
    monkeypatch.setattr(extraction, "_sha256", lambda path: hashed.append(pathlib.Path(path).name) or real_sha256(path))
    assert extraction.extract(tracks, directory, CFG, progress=False).done == []
    assert hashed == []  # untouched cache: no array is read again
    path = npy(directory)
    np.save(path, np.load(path))  # same bytes, new mtime
    assert extraction.extract(tracks, directory, CFG, progress=False).done == []
    assert hashed == [path.name]
    extraction.extract(tracks, directory, CFG, progress=False)
    assert hashed == [path.name]  # its new mtime went into the index


def test_rotted_bytes_under_an_unchanged_mtime_pass_until_verify_rebuilds_them(fake_extracted):
    """The documented trade-off (mgc_jax.data.cache, "Trust and --verify"): mtime vouches, --verify re-hashes."""
    tracks, directory = fake_extracted
    path = npy(directory, "stft", "blues.00001")
    good = np.load(path)
    rot_keeping_mtime(path)
    assert extraction.extract(tracks, directory, CFG, progress=False).done == []  # trusted: same mtime, same shape
    report = extraction.extract(tracks, directory, CFG, progress=False, verify=True)
    assert report.verified == 4 and report.done == ["blues.00001"] and report.skipped == ["blues.00000"]
    assert report.rotted == ((str(path), "content differs from its SHA-256"),)
    np.testing.assert_array_equal(cache.FeatureCache(directory).load("blues.00001", "stft"), good)
    again = extraction.extract(tracks, directory, CFG, progress=False, verify=True)
    assert again.done == [] and again.rotted == () and again.verified == 4


def test_verify_rebuilds_entries_without_a_recorded_checksum(fake_extracted):
    tracks, directory = fake_extracted
    index = json.loads((directory / "index.json").read_text())
    del index["tracks"]["blues.00000"]["file_sha256"]
    (directory / "index.json").write_text(json.dumps(index))
    report = extraction.extract(tracks, directory, CFG, progress=False, verify=True)
    assert report.done == ["blues.00000"]
    assert {why for _, why in report.rotted} == {"no checksum recorded"} and len(report.rotted) == 2


def test_cache_write_names_the_file_and_the_rerun_keeps_what_was_done(tmp_path, monkeypatch):
    fake_extraction.install(monkeypatch, "ones")
    tracks = []
    for i in range(3):
        path = tmp_path / "audio" / f"blues.{i:05d}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, 0.1 * np.random.default_rng(i).standard_normal(4 * 22050 + 512 * i), 22050)
        tracks.append(Track(path.stem, "blues", str(path)))  # 3 lengths: 3 batches of one track
    cfg, cache_dir = dsp.FeatureConfig(), tmp_path / "f"
    disk = fill_disk_after(monkeypatch, 3)  # track 0: 2 arrays + the index; then track 1's first array fails
    with pytest.raises(DiskFullError, match=rf"^no space left on device writing {cache_dir}/blues\.00001\.music\.npy$"):
        extraction.extract(tracks, cache_dir, cfg, progress=False, batch_size=1)
    assert not list(cache_dir.glob(".*.tmp"))
    disk["full"] = False
    report = extraction.extract(tracks, cache_dir, cfg, progress=False, batch_size=1)
    assert report.skipped == ["blues.00000"] and sorted(report.done) == ["blues.00001", "blues.00002"]
