"""mgc_jax.data.cache (and the Workdir layout it lives in): crop rule, batching, resumability, bad files.

Most tests swap the jitted dsp extractor for a NumPy stand-in with the same shapes, so they test the
cache's bookkeeping in milliseconds; `test_real_dsp_features_are_cached` runs the real kernels once.
"""
from __future__ import annotations

import json
import os
import pathlib

import numpy as np
import pytest
import soundfile as sf

import dsp
import mgc_jax.config
from mgc_jax.data import cache, extraction, maps
from mgc_jax.data.track import Track
from mgc_jax.errors import DataError
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
    assert wd.features_dir("gtzan", CFG) == tmp_path / "features" / f"gtzan-{CFG.hash()}-{mgc_jax.config.dsp_code_hash()}"
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


def test_other_dsp_code_rebuilds_everything_and_says_why(tmp_path, fake, monkeypatch, caplog):
    tracks = _corpus(tmp_path / "audio", lengths=(7.0, 7.0))
    extraction.extract(tracks, tmp_path / "f", CFG, progress=False)
    assert cache.FeatureCache(tmp_path / "f")._index["dsp_code"] == mgc_jax.config.dsp_code_hash()
    monkeypatch.setattr(mgc_jax.config, "dsp_code_hash", lambda: "edited-dsp")
    with caplog.at_level("WARNING"):
        assert len(extraction.extract(tracks, tmp_path / "f", CFG, progress=False).done) == 2
    assert "re-extracting 2 tracks: the dsp code changed since these maps were made" in caplog.text


def test_caches_of_other_dsp_code_are_kept_apart(tmp_path, monkeypatch):
    wd = Workdir(tmp_path)
    old = wd.features_dir("gtzan", CFG)
    legacy = tmp_path / "features" / f"gtzan-{CFG.hash()}"  # named before the code hash was part of the name
    for d in (old, legacy, tmp_path / "features" / "gtzan-other"):
        d.mkdir(parents=True)
    monkeypatch.setattr(mgc_jax.config, "dsp_code_hash", lambda: "edited-dsp")
    new = wd.features_dir("gtzan", CFG)
    assert new != old and new.name.endswith("-edited-dsp")
    assert wd.other_feature_dirs("gtzan", CFG) == sorted([old, legacy])


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


@pytest.mark.parametrize("moved", [False, True])
def test_a_read_only_cache_with_nothing_new_serves(tmp_path, fake, monkeypatch, moved):
    """A read-only workdir (a shared cache) serves when nothing changed, also when the audio is reached by another
    path (the refreshed paths are not recorded then)."""
    tracks = _corpus(tmp_path / "audio", lengths=(7.0, 7.0))
    extraction.extract(tracks, tmp_path / "f", CFG, progress=False)
    if moved:  # the same files through a link: same bytes, another path
        (tmp_path / "link").symlink_to(tmp_path / "audio")
        tracks = [t._replace(path=str(t.path).replace(str(tmp_path / "audio"), str(tmp_path / "link")))
                  for t in tracks]

    def read_only(path, *a, **k):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(extraction, "atomic_write", read_only)
    monkeypatch.setattr(extraction, "write_json", read_only)
    report = extraction.extract(tracks, tmp_path / "f", CFG, progress=False)
    assert sorted(report.skipped) == [t.track_id for t in tracks] and not report.done
