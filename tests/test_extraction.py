"""mgc_jax.data.extraction: audio files -> feature maps in the cache, in batches; resumable, each bad file skipped
with its cause and the good ones beside it extracted, damaged or stale entries rebuilt, --verify.

Most tests swap the jitted dsp maps for tests/support/fake_extraction.py (NumPy, the real shapes), so they test the
bookkeeping in milliseconds; `test_real_dsp_features_are_cached` and the bad-audio tests run the real kernels.
"""
from __future__ import annotations

import json
import os
import pathlib
import threading
import weakref

import fake_extraction
import numpy as np
import pytest
import soundfile as sf
from bad_audio import LENGTH, LOADS, REFUSED, TOO_SHORT_TO_EXTRACT, N, track_id
from damaged_files import npy, rot_keeping_mtime
from fake_extraction import noise_track, noise_tracks
from full_disk import fill_disk_after

import dsp
import mgc_jax.config
from mgc_jax.data import audio, cache, extraction, maps
from mgc_jax.data.track import Track
from mgc_jax.errors import DataError, DiskFullError

CFG = dsp.FeatureConfig()
SR = 22050
SHARED = pathlib.Path(os.environ.get("MGC_SHARED", pathlib.Path(__file__).resolve().parents[2] / "shared"))


def test_extract_writes_arrays_and_index(tmp_path, fake_maps):
    tracks = noise_tracks(tmp_path / "audio")
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
    # the third 6 s track is padded to the 2 rows compiled for its length; the lone 9 s track is computed alone
    # (a long file of its own length is not computed batch_size times)
    assert sorted(fake_maps.shapes) == sorted([(2, 132300), (2, 132300), (1, maps.crop_length(n, CFG))])


def test_second_run_does_no_work(tmp_path, fake_maps):
    tracks = noise_tracks(tmp_path / "audio")
    extraction.extract(tracks, tmp_path / "f", CFG, progress=False)
    calls = len(fake_maps.shapes)
    report = extraction.extract(tracks, tmp_path / "f", CFG, progress=False)
    assert len(fake_maps.shapes) == calls and report.done == [] and len(report.skipped) == len(tracks)


def test_damaged_or_stale_entries_are_rebuilt(tmp_path, fake_maps):
    tracks = noise_tracks(tmp_path / "audio")
    out = tmp_path / "f"
    extraction.extract(tracks, out, CFG, progress=False)
    npy = out / "blues.00000.music.npy"
    npy.write_bytes(npy.read_bytes()[:-100])  # truncated array
    (out / "blues.00001.stft.npy").unlink()  # missing array
    noise_track(pathlib.Path(tracks[2].path), 7.0, seed=99)  # new audio, same size
    os.utime(tracks[3].path, ns=(1, 1))  # touched only: same bytes
    report = extraction.extract(tracks, out, CFG, progress=False)
    assert sorted(report.done) == ["blues.00000", "blues.00001", "blues.00002"]
    assert report.skipped == ["blues.00003"]
    assert cache.FeatureCache(out).load("blues.00000", "music").shape[0] == 1 + (132300 - 1024) // 512


def test_moved_corpus_with_same_bytes_is_not_reextracted(tmp_path, fake_maps):
    tracks = noise_tracks(tmp_path / "a")
    extraction.extract(tracks, tmp_path / "f", CFG, progress=False)
    (tmp_path / "a").rename(tmp_path / "b")
    moved = [t._replace(path=t.path.replace(str(tmp_path / "a"), str(tmp_path / "b"))) for t in tracks]
    report = extraction.extract(moved, tmp_path / "f", CFG, progress=False)
    assert report.done == [] and cache.FeatureCache(tmp_path / "f").entries()["blues.00000"]["path"] == moved[0].path


def test_bad_files_are_reported_and_extraction_goes_on(tmp_path, fake_maps):
    tracks = noise_tracks(tmp_path / "audio", lengths=(7.0, 7.0))
    empty = tmp_path / "audio" / "rock" / "rock.00000.wav"
    empty.parent.mkdir()
    empty.write_bytes(b"")
    short = noise_track(tmp_path / "audio" / "rock" / "rock.00001.wav", 0.01)  # 220 samples < one frame
    bad = [Track("rock.00000", "rock", str(empty)), short]
    report = extraction.extract(tracks + bad, tmp_path / "f", CFG, progress=False)
    assert sorted(report.done) == ["blues.00000", "blues.00001"]
    causes = dict(report.failed)
    assert causes[str(empty)].startswith("empty file") and causes[short.path].startswith("too short")


def test_a_cached_track_whose_audio_went_bad_leaves_the_index(tmp_path, fake_maps):
    tracks = noise_tracks(tmp_path / "audio", lengths=(7.0, 7.0))
    extraction.extract(tracks, tmp_path / "f", CFG, progress=False)
    pathlib.Path(tracks[1].path).write_bytes(b"")
    report = extraction.extract(tracks, tmp_path / "f", CFG, progress=False)
    assert report.skipped == ["blues.00000"] and report.failed[0][1].startswith("empty file")
    assert sorted(cache.FeatureCache(tmp_path / "f").entries()) == ["blues.00000"]


def test_resampled_and_stereo_audio_is_cached_at_22050(tmp_path, fake_maps):
    path = tmp_path / "pop" / "pop.00000.wav"
    path.parent.mkdir()
    sf.write(path, 0.1 * np.ones((44100 * 7, 2)) * [1, -0.5], 44100)
    extraction.extract([Track("pop.00000", "pop", str(path))], tmp_path / "f", CFG, progress=False)
    assert cache.FeatureCache(tmp_path / "f").entries()["pop.00000"]["n_samples"] == 7 * SR


def test_a_kill_while_writing_leaves_no_finished_looking_file(tmp_path, fake_maps, monkeypatch):
    tracks = noise_tracks(tmp_path / "audio", lengths=(7.0, 7.0, 7.0))
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


def test_other_dsp_code_rebuilds_everything_and_says_why(tmp_path, fake_maps, monkeypatch, caplog):
    tracks = noise_tracks(tmp_path / "audio", lengths=(7.0, 7.0))
    extraction.extract(tracks, tmp_path / "f", CFG, progress=False)
    assert cache.FeatureCache(tmp_path / "f")._index["dsp_code"] == mgc_jax.config.dsp_code_hash()
    monkeypatch.setattr(mgc_jax.config, "dsp_code_hash", lambda: "edited-dsp")
    with caplog.at_level("WARNING"):
        assert len(extraction.extract(tracks, tmp_path / "f", CFG, progress=False).done) == 2
    assert "re-extracting 2 tracks: the dsp code changed since these maps were made" in caplog.text


def test_a_cache_of_another_config_is_refused(tmp_path, fake_maps):
    tracks = noise_tracks(tmp_path / "audio", lengths=(7.0,))
    extraction.extract(tracks, tmp_path / "f", CFG, progress=False)
    with pytest.raises(DataError, match="another configuration"):
        extraction.extract(tracks, tmp_path / "f", dsp.FeatureConfig(chroma_scale="linear"), progress=False)


def test_real_dsp_features_are_cached(tmp_path):
    track = noise_track(tmp_path / "jazz" / "jazz.00000.wav", 7.0)
    extraction.extract([track], tmp_path / "f", CFG, batch_size=1, progress=False)
    fc = cache.FeatureCache(tmp_path / "f")
    from mgc_jax.data import audio

    x = audio.load(track.path)[: maps.crop_length(7 * SR, CFG)]
    music, nans = dsp.music_features_with_nan_counts(x, CFG)
    # vmap over a batch of one vs a direct call: same XLA ops up to fusion order (float32 rounding).
    np.testing.assert_allclose(fc.load(track.track_id, "music"), music, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fc.load(track.track_id, "stft"), dsp.stft_features(x, CFG), rtol=1e-5, atol=1e-5)
    assert list(fc.entries()[track.track_id]["nan_counts"].values()) == [int(v) for v in nans]


def test_a_long_track_is_computed_block_by_block_and_equals_its_whole_maps(tmp_path, monkeypatch):
    """Beyond LONG_TRACK_FRAMES a track's maps come from maps.track_maps_blockwise (bounded memory: a 60-min file
    takes 1.7 GB instead of 6.9), equal to the whole track's maps to float rounding; shorter tracks still batch."""
    monkeypatch.setattr(extraction, "LONG_TRACK_FRAMES", 400)
    monkeypatch.setattr(maps, "BLOCK_FRAMES", 512)  # 31 s = 1,335 frames: three blocks
    blockwise = []
    monkeypatch.setattr(extraction, "track_maps_blockwise",
                        lambda x, cfg, kinds: blockwise.append(x.size) or maps.track_maps_blockwise(x, cfg, kinds))
    short = noise_track(tmp_path / "jazz" / "jazz.00000.wav", 7.0)
    long = noise_track(tmp_path / "rock" / "rock.00000.wav", 31.0, seed=1)
    extraction.extract([short, long], tmp_path / "f", CFG, batch_size=2, progress=False)
    x = audio.load(long.path)[: maps.crop_length(31 * SR, CFG)]
    assert blockwise == [x.size]
    fc = cache.FeatureCache(tmp_path / "f")
    whole = extraction.batch_maps(x[None], CFG)
    np.testing.assert_allclose(fc.load(long.track_id, "music"), whole["music"][0], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(fc.load(long.track_id, "stft"), whole["stft"][0], rtol=1e-5, atol=1e-5)
    assert list(fc.entries()[long.track_id]["nan_counts"].values()) == whole["music_nan_counts"][0].tolist()
    assert fc.load(short.track_id, "music").shape[0] == fc.entries()[short.track_id]["n_frames"]


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
    # extraction hashes the file's bytes (its SHA-256) before audio.decode, so a directory fails there first:
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


@pytest.mark.parametrize("moved", [False, True])
def test_a_read_only_cache_with_nothing_new_serves(tmp_path, fake_maps, monkeypatch, moved):
    """A read-only workdir (a shared cache) serves when nothing changed, also when the audio is reached by another
    path (the refreshed paths are not recorded then)."""
    tracks = noise_tracks(tmp_path / "audio", lengths=(7.0, 7.0))
    extraction.extract(tracks, tmp_path / "f", CFG, progress=False)
    if moved:  # the same files through a link: same bytes, another path
        (tmp_path / "link").symlink_to(tmp_path / "audio")
        tracks = [t._replace(path=str(t.path).replace(str(tmp_path / "audio"), str(tmp_path / "link")))
                  for t in tracks]

    def read_only(path, *a, **k):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(cache, "atomic_write", read_only)  # the cache's writers (arrays, index.json)
    monkeypatch.setattr(cache, "write_json", read_only)
    report = extraction.extract(tracks, tmp_path / "f", CFG, progress=False)
    assert sorted(report.skipped) == [t.track_id for t in tracks] and not report.done


# ------------------------------------------------------------------------------- the pipeline (issue 29)


@pytest.fixture
def level_maps(monkeypatch):
    """fake_extraction's "level" maps: each track's own values, the same in any batch."""
    return fake_extraction.install(monkeypatch, "level")


def _decoded(x: np.ndarray) -> audio.Decoded:
    """What audio.decode gives for samples x of a mono 22,050 Hz file."""
    return audio.Decoded(x, SR, SR, 1, x.size, "WAV PCM_16", "libsndfile")


def _arrays(directory: pathlib.Path) -> dict[str, np.ndarray]:
    return {p.name: np.load(p) for p in sorted(directory.glob("*.npy"))}


def _entries(directory: pathlib.Path) -> dict:
    """index.json's entries without what differs between two runs (times of extraction and of files)."""
    drop = ("extracted_ns", "file_mtime_ns")
    index = json.loads((directory / "index.json").read_text())
    return {t: {k: v for k, v in e.items() if k not in drop} for t, e in index["tracks"].items()}


def test_threads_give_the_cache_of_a_serial_run(tmp_path, level_maps):
    lengths = [7.0, 9.5, 7.2, 13.0, 7.0, 9.6, 7.1, 20.0, 7.3, 9.5, 7.0]  # several lengths, partial batches
    tracks = noise_tracks(tmp_path / "audio", lengths=lengths)
    serial = extraction.extract(tracks, tmp_path / "serial", CFG, batch_size=2, progress=False, decode_threads=0)
    threaded = extraction.extract(tracks, tmp_path / "threads", CFG, batch_size=2, progress=False, decode_threads=3)
    assert sorted(serial.done) == sorted(threaded.done) == sorted(t.track_id for t in tracks)
    a, b = _arrays(tmp_path / "serial"), _arrays(tmp_path / "threads")
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    assert _entries(tmp_path / "serial") == _entries(tmp_path / "threads")


def test_a_bad_file_among_many_is_reported_and_the_rest_extracted(tmp_path, level_maps):
    tracks = noise_tracks(tmp_path / "audio", lengths=[7.0] * 9)
    bad = pathlib.Path(tracks[4].path)
    bad.write_bytes(b"not audio at all")
    report = extraction.extract(tracks, tmp_path / "f", CFG, batch_size=2, progress=False, decode_threads=2)
    assert sorted(report.done) == sorted(t.track_id for t in tracks if t is not tracks[4])
    assert [p for p, _ in report.failed] == [str(bad)] and "not an audio file" in report.failed[0][1]
    assert cache.FeatureCache(tmp_path / "f").failures()[tracks[4].track_id]["path"] == str(bad)


def test_decoded_audio_in_memory_is_bounded_by_the_windows_not_the_corpus(tmp_path, level_maps, monkeypatch):
    """60 tracks of 30 lengths (most buckets never fill): at most the look-ahead, the waiting buckets, the batch
    being formed and the batches queued at the writer hold decoded audio, whatever the corpus size."""
    tracks = noise_tracks(tmp_path / "audio", lengths=[0.1] * 60)  # tiny files; the decoder below makes the audio
    lengths = {t.track_id: (7 + 3 * (i % 30)) * SR for i, t in enumerate(tracks)}
    lock, alive, worst = threading.Lock(), [0], [0]

    def freed():
        with lock:
            alive[0] -= 1

    def decode(path, sample_rate):
        x = np.full(lengths[pathlib.Path(path).stem], 0.1, np.float32)
        weakref.finalize(x, freed)  # when x and every view cut from it are gone
        with lock:
            alive[0] += 1
            worst[0] = max(worst[0], alive[0])
        return _decoded(x)

    monkeypatch.setattr(extraction.audio, "decode", decode)
    batch, workers = 2, 2
    report = extraction.extract(tracks, tmp_path / "f", CFG, batch_size=batch, progress=False, decode_threads=workers)
    assert len(report.done) == 60
    # ahead + buckets + the file being added + (2 queued + 1 started) at the maps thread and at the writer
    bound = 2 * workers + 4 * batch + 1 + 3 * batch + 3 * batch
    assert worst[0] <= bound, (worst[0], bound)


def test_long_files_flush_their_bucket_at_once(tmp_path, level_maps, monkeypatch):
    """Audio waiting in buckets is also bounded in samples: a file longer than the budget is computed alone."""
    tracks = noise_tracks(tmp_path / "audio", lengths=[0.1] * 3)
    monkeypatch.setattr(extraction, "_WAITING_SECONDS", 1)  # budget: 4 x 2 tracks x 1 s
    monkeypatch.setattr(extraction.audio, "decode", lambda path, rate: _decoded(
        np.full((12 if path.endswith("00001.wav") else 7) * SR, 0.1, np.float32)))
    extraction.extract(tracks, tmp_path / "f", CFG, batch_size=2, progress=False, decode_threads=0)
    assert level_maps.shapes[0] == (1, 12 * SR)  # flushed on arrival, before the 6 s bucket filled up
    assert sorted(level_maps.shapes[1:]) == [(2, 6 * SR)]


@pytest.mark.parametrize("where", ["decoding", "maps"])
def test_an_interrupt_keeps_what_was_computed_and_a_rerun_resumes(tmp_path, level_maps, monkeypatch, where):
    tracks = noise_tracks(tmp_path / "audio", lengths=[7.0] * 8)
    calls, real_decode = [0], extraction.audio.decode

    def interrupting_batch(x, cfg):
        calls[0] += 1
        if calls[0] == 3:
            raise KeyboardInterrupt
        return level_maps(x, cfg)

    def interrupting_decode(path, rate):
        if path.endswith("00006.wav"):
            raise KeyboardInterrupt
        return real_decode(path, rate)

    if where == "maps":
        monkeypatch.setattr(extraction, "batch_maps", interrupting_batch)
    else:
        monkeypatch.setattr(extraction.audio, "decode", interrupting_decode)
    with pytest.raises(KeyboardInterrupt):
        extraction.extract(tracks, tmp_path / "f", CFG, batch_size=2, progress=False, decode_threads=2)
    kept = sorted(cache.FeatureCache(tmp_path / "f").entries())
    # every batch formed before the interrupt is written and indexed: 2 before the third batch's maps, 3 before
    # the seventh file's decode
    assert kept == [t.track_id for t in tracks[:4 if where == "maps" else 6]]
    assert all((tmp_path / "f" / f"{t}.stft.npy").is_file() for t in kept)
    monkeypatch.undo()
    fake_extraction.install(monkeypatch, "level")
    report = extraction.extract(tracks, tmp_path / "f", CFG, batch_size=2, progress=False)
    assert report.skipped == kept and sorted(report.done) == [t.track_id for t in tracks[len(kept):]]


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED / "emotify_dev").is_dir(), reason="needs ../shared/emotify_dev")
def test_real_mp3s_cached_by_the_pipeline_equal_a_serial_run(tmp_path):
    """The real kernels on real MP3s (one per class): the same arrays, bit for bit, with 2 threads or none."""
    files = [min((SHARED / "emotify_dev" / g).glob("*.mp3")) for g in ("classical", "electronic", "pop")]
    tracks = [Track(f"{p.parent.name}.{p.stem}", p.parent.name, str(p)) for p in files]
    for workers in (0, 2):
        report = extraction.extract(tracks, tmp_path / str(workers), CFG, batch_size=2, progress=False,
                                    decode_threads=workers)
        assert not report.failed, report.failed
    a, b = _arrays(tmp_path / "0"), _arrays(tmp_path / "2")
    assert len(a) == 6 and a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    assert _entries(tmp_path / "0") == _entries(tmp_path / "2")


def test_float16_stft_storage_halves_the_file_and_reads_back_as_float32(tmp_path, level_maps):
    from mgc_jax.data.clips import ClipDataset

    tracks = noise_tracks(tmp_path / "audio", lengths=[7.0, 7.0, 9.5])
    extraction.extract(tracks, tmp_path / "f32", CFG, batch_size=2, progress=False)
    report = extraction.extract(tracks, tmp_path / "f16", CFG, batch_size=2, progress=False, stft_dtype="float16")
    assert len(report.done) == 3
    c32, c16 = cache.FeatureCache(tmp_path / "f32"), cache.FeatureCache(tmp_path / "f16")
    for t in tracks:
        stored = np.load(c16.path(t.track_id, "stft"))
        assert stored.dtype == np.float16
        assert c16.path(t.track_id, "stft").stat().st_size < 0.51 * c32.path(t.track_id, "stft").stat().st_size
        full = c16.load(t.track_id, "stft", mmap=False)
        assert full.dtype == np.float32
        np.testing.assert_array_equal(full, c32.load(t.track_id, "stft").astype(np.float16).astype(np.float32))
        np.testing.assert_array_equal(c16.load(t.track_id, "music"), c32.load(t.track_id, "music"))
    clips = ClipDataset(c16, [tracks[2].track_id], [0], kinds=("stft",), max_clips=None).track_clips(0)["stft"]
    assert clips.dtype == np.float32
    # left as they are by a default run; a float32 request rebuilds them
    again = extraction.extract(tracks, tmp_path / "f16", CFG, progress=False)
    assert again.done == [] and len(again.skipped) == 3
    back = extraction.extract(tracks, tmp_path / "f16", CFG, progress=False, stft_dtype="float32")
    assert len(back.done) == 3 and np.load(c16.path(tracks[0].track_id, "stft")).dtype == np.float32


def test_a_map_beyond_float16s_range_stays_float32(tmp_path, level_maps, monkeypatch):
    tracks = noise_tracks(tmp_path / "audio", lengths=[7.0, 7.0])

    def loud_first(x, cfg):
        maps = level_maps(x, cfg)
        maps["stft"][0] *= 1e9  # unscaled float audio (samples up to audio.MAX_ABS_SAMPLE) can reach this
        return maps

    monkeypatch.setattr(extraction, "batch_maps", loud_first)
    extraction.extract(tracks, tmp_path / "f", CFG, batch_size=2, progress=False, stft_dtype="float16")
    fc = cache.FeatureCache(tmp_path / "f")
    assert [cache.stored_dtype(fc.entries()[t.track_id], "stft") for t in tracks] == ["float32", "float16"]
    assert np.isfinite(fc.load(tracks[0].track_id, "stft")).all()
    again = extraction.extract(tracks, tmp_path / "f", CFG, progress=False, stft_dtype="float16")
    assert again.done == []  # not rebuilt on every run
