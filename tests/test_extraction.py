"""mgc_jax.data.cache (and the Workdir layout it lives in): crop rule, batching, resumability, bad files.

Most tests swap the jitted dsp extractor for a NumPy stand-in with the same shapes, so they test the
cache's bookkeeping in milliseconds; `test_real_dsp_features_are_cached` runs the real kernels once.
"""
from __future__ import annotations

import json
import os
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
from mgc_jax.errors import DataError, DiskFullError
from mgc_jax.workdir import Workdir

CFG = dsp.FeatureConfig()
SR = 22050


class FakeExtractor:
    """NumPy stand-in for cache._extract_batch: per-frame RMS and |rfft| with the real shapes; logs calls."""

    def __init__(self):
        self.shapes = []

    def __call__(self, x, cfg):
        self.shapes.append(x.shape)
        t = dsp.n_frames(x.shape[1], cfg)
        idx = np.arange(cfg.frame_length)[None, :] + cfg.hop_length * np.arange(t)[:, None]
        frames = x[:, idx]  # [B, T, L]
        stft = np.abs(np.fft.rfft(frames, n=cfg.n_fft, axis=-1)).astype(np.float32)
        music = np.repeat(np.sqrt((frames ** 2).mean(-1))[..., None], 8, axis=-1).astype(np.float32)
        return music, np.arange(8, dtype=np.int32)[None].repeat(len(x), 0), stft


@pytest.fixture
def fake(monkeypatch):
    f = FakeExtractor()
    monkeypatch.setattr(extraction, "_extract_batch", f)
    return f


def _write(path: pathlib.Path, seconds: float, seed: int = 0, rate: int = SR) -> Track:
    path.parent.mkdir(parents=True, exist_ok=True)
    x = 0.1 * np.random.default_rng(seed).standard_normal(int(seconds * rate))
    sf.write(path, x, rate, subtype="PCM_16")
    genre, _ = path.name.split(".", 1)
    return Track(path.name.rsplit(".", 1)[0], genre, str(path))


def _corpus(root, lengths=(7.0, 7.0, 7.0, 9.5)):
    return [_write(root / "blues" / f"blues.{i:05d}.wav", s, seed=i) for i, s in enumerate(lengths)]


def test_workdir_layout(tmp_path):
    wd = Workdir(tmp_path)
    assert wd.corpus_dir("synthetic") == tmp_path / "corpora" / "synthetic"
    assert wd.features_dir("gtzan", CFG) == tmp_path / "features" / f"gtzan-{CFG.hash()}"
    assert wd.split_file("gtzan", "artist") == tmp_path / "splits" / "gtzan-artist.json"
    assert wd.run_dir("gtzan", "stratified", "music", 3) == tmp_path / "runs/gtzan/stratified/music/fold3"
    assert wd.results_dir("gtzan", "filtered") == tmp_path / "results/gtzan/filtered"
    assert Workdir().root == pathlib.Path("workspace")
    with pytest.raises(DataError, match="cannot name a folder"):
        wd.features_dir("../elsewhere", CFG)


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


def test_extract_writes_arrays_and_index(tmp_path, fake):
    tracks = _corpus(tmp_path / "audio")
    out = tmp_path / "features"
    report = extraction.extract(tracks, out, CFG, batch_size=2, progress=False)
    assert sorted(report.done) == sorted(t.track_id for t in tracks) and not report.failed and not report.skipped
    fc = cache.FeatureCache(out)
    assert fc.config == CFG
    entry = fc.entries()["blues.00003"]
    n = int(9.5 * SR)
    assert entry["n_samples"] == n and entry["n_samples_kept"] == maps.crop_length(n, CFG)
    assert entry["n_frames"] == dsp.n_frames(maps.crop_length(n, CFG), CFG)
    assert entry["nan_counts"] == dict(zip(dsp.FEATURE_NAMES, range(8)))
    assert len(entry["audio_sha256"]) == 64 and entry["duration_s"] == pytest.approx(9.5)
    music = fc.load("blues.00003", "music")
    assert isinstance(music, np.memmap) and music.dtype == np.float32 and music.shape == (entry["n_frames"], 8)
    assert fc.load("blues.00003", "stft", mmap=False).shape == (entry["n_frames"], 513)
    assert json.loads((out / "index.json").read_text())["config_hash"] == CFG.hash()
    # batches hold equal-length tracks and always batch_size of them (a short one is padded)
    assert sorted(fake.shapes) == sorted([(2, 132300), (2, 132300), (2, maps.crop_length(n, CFG))])


def test_second_run_does_no_work(tmp_path, fake):
    tracks = _corpus(tmp_path / "audio")
    extraction.extract(tracks, tmp_path / "f", CFG, progress=False)
    calls = len(fake.shapes)
    report = extraction.extract(tracks, tmp_path / "f", CFG, progress=False)
    assert len(fake.shapes) == calls and report.done == [] and len(report.skipped) == len(tracks)


def test_damaged_or_stale_entries_are_rebuilt(tmp_path, fake):
    tracks = _corpus(tmp_path / "audio")
    out = tmp_path / "f"
    extraction.extract(tracks, out, CFG, progress=False)
    npy = out / "blues.00000.music.npy"
    npy.write_bytes(npy.read_bytes()[:-100])  # truncated array
    (out / "blues.00001.stft.npy").unlink()  # missing array
    _write(pathlib.Path(tracks[2].path), 7.0, seed=99)  # new audio, same size
    os.utime(tracks[3].path, ns=(1, 1))  # touched only: same bytes
    report = extraction.extract(tracks, out, CFG, progress=False)
    assert sorted(report.done) == ["blues.00000", "blues.00001", "blues.00002"]
    assert report.skipped == ["blues.00003"]
    assert cache.FeatureCache(out).load("blues.00000", "music").shape[0] == 1 + (132300 - 1024) // 512


def test_moved_corpus_with_same_bytes_is_not_reextracted(tmp_path, fake):
    tracks = _corpus(tmp_path / "a")
    extraction.extract(tracks, tmp_path / "f", CFG, progress=False)
    (tmp_path / "a").rename(tmp_path / "b")
    moved = [t._replace(path=t.path.replace(str(tmp_path / "a"), str(tmp_path / "b"))) for t in tracks]
    report = extraction.extract(moved, tmp_path / "f", CFG, progress=False)
    assert report.done == [] and cache.FeatureCache(tmp_path / "f").entries()["blues.00000"]["path"] == moved[0].path


def test_bad_files_are_reported_and_extraction_goes_on(tmp_path, fake):
    tracks = _corpus(tmp_path / "audio", lengths=(7.0, 7.0))
    empty = tmp_path / "audio" / "rock" / "rock.00000.wav"
    empty.parent.mkdir()
    empty.write_bytes(b"")
    short = _write(tmp_path / "audio" / "rock" / "rock.00001.wav", 0.01)  # 220 samples < one frame
    bad = [Track("rock.00000", "rock", str(empty)), short]
    report = extraction.extract(tracks + bad, tmp_path / "f", CFG, progress=False)
    assert sorted(report.done) == ["blues.00000", "blues.00001"]
    causes = dict(report.failed)
    assert causes[str(empty)].startswith("empty file") and causes[short.path].startswith("too short")


def test_a_cached_track_whose_audio_went_bad_leaves_the_index(tmp_path, fake):
    tracks = _corpus(tmp_path / "audio", lengths=(7.0, 7.0))
    extraction.extract(tracks, tmp_path / "f", CFG, progress=False)
    pathlib.Path(tracks[1].path).write_bytes(b"")
    report = extraction.extract(tracks, tmp_path / "f", CFG, progress=False)
    assert report.skipped == ["blues.00000"] and report.failed[0][1].startswith("empty file")
    assert sorted(cache.FeatureCache(tmp_path / "f").entries()) == ["blues.00000"]


def test_resampled_and_stereo_audio_is_cached_at_22050(tmp_path, fake):
    path = tmp_path / "pop" / "pop.00000.wav"
    path.parent.mkdir()
    sf.write(path, 0.1 * np.ones((44100 * 7, 2)) * [1, -0.5], 44100)
    extraction.extract([Track("pop.00000", "pop", str(path))], tmp_path / "f", CFG, progress=False)
    assert cache.FeatureCache(tmp_path / "f").entries()["pop.00000"]["n_samples"] == 7 * SR


def test_a_kill_while_writing_leaves_no_finished_looking_file(tmp_path, fake, monkeypatch):
    tracks = _corpus(tmp_path / "audio", lengths=(7.0, 7.0, 7.0))
    out = tmp_path / "f"
    real_save = np.save

    def dying_save(f, arr, allow_pickle=False):
        if arr.shape[1] == 513 and dying_save.calls == 1:  # second STFT array: die half-way
            f.write(b"\x93NUMPY half an array")
            raise KeyboardInterrupt
        dying_save.calls += arr.shape[1] == 513
        real_save(f, arr, allow_pickle=allow_pickle)

    dying_save.calls = 0
    monkeypatch.setattr(cache.np, "save", dying_save)
    with pytest.raises(KeyboardInterrupt):
        extraction.extract(tracks, out, CFG, batch_size=8, progress=False)
    monkeypatch.setattr(cache.np, "save", real_save)
    assert not list(out.glob(".*.tmp"))  # the temporary file went with the failed write
    assert not (out / "blues.00001.stft.npy").exists()
    assert not (out / "index.json").exists()  # the batch never finished: nothing claims to be done
    report = extraction.extract(tracks, out, CFG, progress=False)
    assert sorted(report.done) == [t.track_id for t in tracks]


def test_other_dsp_code_rebuilds_everything(tmp_path, fake, monkeypatch):
    tracks = _corpus(tmp_path / "audio", lengths=(7.0, 7.0))
    extraction.extract(tracks, tmp_path / "f", CFG, progress=False)
    assert cache.FeatureCache(tmp_path / "f")._index["dsp_code"] == extraction.dsp_code_hash()
    monkeypatch.setattr(extraction, "dsp_code_hash", lambda: "edited-dsp")
    assert len(extraction.extract(tracks, tmp_path / "f", CFG, progress=False).done) == 2


def test_a_cache_of_another_config_is_refused(tmp_path, fake):
    tracks = _corpus(tmp_path / "audio", lengths=(7.0,))
    extraction.extract(tracks, tmp_path / "f", CFG, progress=False)
    with pytest.raises(DataError, match="another configuration"):
        extraction.extract(tracks, tmp_path / "f", dsp.FeatureConfig(chroma_scale="linear"), progress=False)


def test_load_errors_name_the_problem(tmp_path, fake):
    tracks = _corpus(tmp_path / "audio", lengths=(7.0,))
    extraction.extract(tracks, tmp_path / "f", CFG, progress=False)
    fc = cache.FeatureCache(tmp_path / "f")
    with pytest.raises(DataError, match="not in the feature cache"):
        fc.load("jazz.00054", "music")
    with pytest.raises(DataError, match="unknown feature kind"):
        fc.load("blues.00000", "chroma")
    np.save(tmp_path / "f" / "blues.00000.music.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match="unreadable feature file"):  # object arrays need pickle: refused
        fc.load("blues.00000", "music", mmap=False)


def test_real_dsp_features_are_cached(tmp_path):
    track = _write(tmp_path / "jazz" / "jazz.00000.wav", 7.0)
    extraction.extract([track], tmp_path / "f", CFG, batch_size=1, progress=False)
    fc = cache.FeatureCache(tmp_path / "f")
    from mgc_jax.data import audio

    x = audio.load(track.path)[: maps.crop_length(7 * SR, CFG)]
    music, nans = dsp.music_features_with_nan_counts(x, CFG)
    # vmap over a batch of one vs a direct call: same XLA ops up to fusion order (float32 rounding).
    np.testing.assert_allclose(fc.load(track.track_id, "music"), music, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fc.load(track.track_id, "stft"), dsp.stft_features(x, CFG), rtol=1e-5, atol=1e-5)
    assert list(fc.entries()[track.track_id]["nan_counts"].values()) == [int(v) for v in nans]


@pytest.mark.parametrize("mmap", [True, False])
@pytest.mark.parametrize("damage", ["truncated", "header only", "garbage bytes", "directory"])
def test_load_refuses_an_unreadable_array_naming_it(fake_extracted, damage, mmap):
    _, directory = fake_extracted
    path = npy(directory)
    data = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(data[:-100])
    elif damage == "header only":
        path.write_bytes(data[:40])
    elif damage == "garbage bytes":
        path.write_bytes(b"\x00\xffnot an array" * 10)
    else:
        path.unlink()
        path.mkdir()
    with pytest.raises(DataError, match=f"^{path}: unreadable feature file .*run the extraction again"):
        cache.FeatureCache(directory).load("blues.00000", "music", mmap=mmap)


@pytest.mark.parametrize("damage", ["wrong shape", "float64"])
def test_load_refuses_an_array_that_does_not_match_its_index_entry(fake_extracted, damage):
    _, directory = fake_extracted
    path = npy(directory)
    good = np.load(path)
    np.save(path, good[:-1] if damage == "wrong shape" else good.astype(np.float64))
    with pytest.raises(DataError, match=str(path)):
        cache.FeatureCache(directory).load("blues.00000", "music")


@pytest.mark.parametrize("content", [b"\x89\xff\xfe\x00 binary garbage", b"", b'{"format": 1, "tracks": {"blues.0',
                                     b"[]", b'"an index"', b'{"format": 1}', b'{"format": 99, "tracks": {}}'],
                         ids=["binary", "empty", "cut", "list", "string", "no tracks", "other format"])
def test_garbage_index_is_refused_by_load_and_extract_naming_it(fake_extracted, content):
    tracks, directory = fake_extracted
    index = directory / "index.json"
    index.write_bytes(content)
    with pytest.raises(DataError, match=f"^{index}: (not valid JSON|not a feature index of this version)"):
        cache.FeatureCache(directory)
    with pytest.raises(DataError, match=f"^{index}: "):
        extraction.extract(tracks, directory, CFG, progress=False)


@pytest.mark.parametrize("entry", ["a string", {"files": "x"}, "missing files"], ids=["string", "files not a dict",
                                                                                     "no files"])
def test_a_damaged_index_entry_is_rebuilt_by_extract_and_refused_by_load(fake_extracted, entry):
    tracks, directory = fake_extracted
    index = json.loads((directory / "index.json").read_text())
    if entry == "missing files":
        del index["tracks"]["blues.00000"]["files"]
    else:
        index["tracks"]["blues.00000"] = entry
    (directory / "index.json").write_text(json.dumps(index))
    with pytest.raises(DataError, match="blues.00000"):
        cache.FeatureCache(directory).load("blues.00000", "music")
    report = extraction.extract(tracks, directory, CFG, progress=False)
    assert report.done == ["blues.00000"]


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
