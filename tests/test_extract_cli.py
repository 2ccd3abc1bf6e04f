"""`python -m launch.extract` and mgc_jax.data.corpus.prepare_corpus: the Done-means run on a messy folder,
resuming with no work, the synthetic default, and one-line errors."""
from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys

import messy_corpus
import numpy as np
import pytest

from mgc_jax.data import cache, corpus, extraction, synthetic
from mgc_jax.errors import DataError
from mgc_jax.workdir import Workdir

REPO = pathlib.Path(__file__).resolve().parents[1]


def _extract(*args, timeout=900):
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "launch.extract", "--noprogress", *map(str, args)], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=timeout)


def test_messy_folder_is_extracted_then_resumed_with_no_work(tmp_path):
    root = messy_corpus.make(tmp_path / "corpus", messy_corpus.shared_or_none())
    wd = tmp_path / "work"
    first = _extract(f"--data_dir={root}", f"--workdir={wd}")
    assert first.returncode == 0, first.stderr
    out = first.stdout
    assert re.search(r"3 tracks extracted now in [\d.]+ s, 0 already cached, 3 usable", out), out
    assert "3 files not used:" in out
    for name, cause in messy_corpus.BAD.items():
        assert f"{root / 'genres' / name}: {cause}" in out
    fc = cache.FeatureCache(next((wd / "features").glob("corpus-*")))
    assert str(fc.directory) in out
    assert sorted(fc.entries()) == list(messy_corpus.GOOD)
    stereo = fc.entries()["classical.00000"]
    assert stereo["n_samples"] == 8 * 22050  # 44.1 kHz stereo -> 22,050 Hz mono
    assert fc.load("classical.00000", "stft").shape == (stereo["n_frames"], 513)
    assert np.isfinite(fc.load("blues.00000", "music")).all()
    stamps = {p: p.stat().st_mtime_ns for p in fc.directory.iterdir()}

    second = _extract(f"--data_dir={root}", f"--workdir={wd}")
    assert second.returncode == 0, second.stderr
    assert "0 tracks extracted now, 3 already cached, 3 usable" in second.stdout
    assert {p: p.stat().st_mtime_ns for p in fc.directory.iterdir()} == stamps  # nothing rewritten


def _error_line(result):
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("error: ")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_missing_data_dir_is_one_line_and_exit_1(tmp_path):
    r = _extract(f"--data_dir={tmp_path / 'nowhere'}", f"--workdir={tmp_path / 'w'}", timeout=120)
    assert r.returncode == 1 and "no such folder" in _error_line(r)
    assert "Traceback" not in r.stderr


def test_a_folder_without_usable_tracks_exits_1(tmp_path):
    (tmp_path / "c" / "jazz").mkdir(parents=True)
    (tmp_path / "c" / "jazz" / "jazz.00054.wav").write_bytes(b"")
    r = _extract(f"--data_dir={tmp_path / 'c'}", f"--workdir={tmp_path / 'w'}", timeout=120)
    assert r.returncode == 1 and "no usable track" in _error_line(r)


def test_stray_arguments_are_a_usage_error(tmp_path):
    r = _extract("somefile.wav", f"--workdir={tmp_path / 'w'}", timeout=120)
    assert r.returncode == 2 and "unexpected arguments: somefile.wav" in _error_line(r)


# ------------------------------------------------------------- prepare_corpus, with a stand-in extractor


@pytest.fixture
def fast_extract(monkeypatch):
    """cache._extract_batch replaced by zeros of the real shapes: corpus logic without the DSP cost."""
    import dsp

    def zeros(x, cfg):
        t = dsp.n_frames(x.shape[1], cfg)
        return (np.zeros((len(x), t, 8), np.float32), np.zeros((len(x), 8), np.int32),
                np.zeros((len(x), t, cfg.n_bins), np.float32))

    monkeypatch.setattr(extraction, "_extract_batch", zeros)


def test_synthetic_corpus_is_made_on_first_use(tmp_path, fast_extract):
    wd = Workdir(tmp_path)
    c = corpus.prepare_corpus(None, wd, tracks_per_genre=1, progress=False)
    assert c.name == "synthetic" and c.root == wd.corpus_dir("synthetic")
    assert len(c.tracks) == 10 and c.problems == () and len(c.report.done) == 10
    assert c.cache.directory == wd.features_dir("synthetic", c.cfg)
    assert c.cache.entries()["rock.00000"]["n_frames"] == 1290  # 30 s, 18 clips
    again = corpus.prepare_corpus(None, wd, progress=False)  # default size: the existing corpus is used
    assert len(again.tracks) == 10 and again.report.done == []
    with pytest.raises(DataError, match="1 tracks per genre, not 2"):
        corpus.prepare_corpus(None, wd, tracks_per_genre=2, progress=False)


def test_default_synthetic_size_gives_four_test_tracks_per_genre_per_fold():
    from mgc_jax.data import folds
    from mgc_jax.data.gtzan import GENRES
    from mgc_jax.data.track import Track

    n = corpus.SYNTHETIC_TRACKS_PER_GENRE
    tracks = [Track(f"{g}.{i:05d}", g, "") for g in GENRES for i in range(n)]
    assert all(len(f.test) == 4 * len(GENRES) for f in folds.stratified_folds(tracks))


def test_unfinished_synthetic_corpus_is_remade(tmp_path, fast_extract):
    wd = Workdir(tmp_path)
    partial = wd.corpus_dir("synthetic") / "genres" / "blues"
    partial.mkdir(parents=True)
    (partial / "blues.00000.wav").write_bytes(b"half")  # killed while writing, no corpus.json
    c = corpus.prepare_corpus(None, wd, tracks_per_genre=1, progress=False)
    assert len(c.tracks) == 10 and synthetic.read_manifest(c.root)["tracks_per_genre"] == 1


def test_tracks_shorter_than_a_clip_are_not_used(tmp_path, fast_extract):
    import soundfile as sf

    # 4 s = 170 frames; 2 s = 84 frames < 128 (a second genre: a one-class corpus is refused)
    for i, (genre, seconds) in enumerate((("pop", 4.0), ("pop", 2.0), ("rock", 4.0))):
        p = tmp_path / "c" / genre / f"{genre}.{i:05d}.wav"
        p.parent.mkdir(parents=True, exist_ok=True)
        sf.write(p, 0.1 * np.random.default_rng(i).standard_normal(int(seconds * 22050)), 22050)
    c = corpus.prepare_corpus(str(tmp_path / "c"), Workdir(tmp_path / "w"), progress=False)
    assert c.name == "c" and [t.track_id for t in c.tracks] == ["pop.00000", "rock.00002"]
    assert c.problems[0][1].startswith("shorter than one 128-frame clip")
