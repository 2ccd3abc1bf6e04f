"""Shared fixtures: the real GTZAN dev clips, their spectra and MIRToolbox golden outputs in ../shared (each
skips where ../shared is absent), and what several suites share: tiny trained runs, the bad-audio corpus and
its extraction, fake extraction (tests/support/fake_extraction.py), damaged run copies, ../shared/gtzan_mini.

Layout: `tests/test_<module>.py` tests one module (`test_dsp_*` dsp, `test_launch_*` a launch command or flag
module, `test_bench_*` a benchmark script); `tests/support/` holds the helpers they import by module name
(fake corpora and runs, bad audio cases, float64 reference implementations, launcher runners), put on
sys.path here so that `from fake_runs import ...` works from any suite and from subprocesses given
`SUPPORT` on their path.
"""
from __future__ import annotations

import csv
import os
import pathlib
import shutil
import sys

import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
SUPPORT = pathlib.Path(__file__).resolve().parent / "support"
if str(SUPPORT) not in sys.path:
    sys.path.insert(0, str(SUPPORT))
# ../shared beside the checkout; MGC_SHARED overrides it (e.g. a CI layout with shared/ elsewhere).
SHARED = pathlib.Path(os.environ.get("MGC_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def shared_dir() -> pathlib.Path:
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent: tests on real GTZAN audio and MIRToolbox outputs are skipped")
    return SHARED


@pytest.fixture(scope="session")
def gtzan_dev_clips(shared_dir) -> list[pathlib.Path]:
    clips = sorted((shared_dir / "gtzan_dev").glob("*/*.au"))
    if not clips:
        pytest.skip(f"no GTZAN dev clips under {shared_dir / 'gtzan_dev'}")
    return clips


@pytest.fixture(scope="session")
def dev_spectra(gtzan_dev_clips) -> dict[str, np.ndarray]:
    """float64 [T, 513] magnitude spectrum (float64 reference STFT) of each real GTZAN dev clip, by clip name."""
    import soundfile as sf
    from mirpeaks_oracle import reference_stft

    out = {}
    for path in gtzan_dev_clips:
        x, sr = sf.read(path, dtype="float64")
        assert sr == 22050, f"{path}: {sr} Hz"
        out[path.stem] = reference_stft(x)
    return out


def read_golden(shared: pathlib.Path, clip: str, feature: str) -> np.ndarray | None:
    """MIRToolbox output `<clip>_<feature>.csv` as float64 [rows, 3] (start_s, end_s, value); None if absent."""
    path = shared / "mirtoolbox_golden" / f"{clip}_{feature}.csv"
    if not path.exists():
        return None
    with open(path) as f:
        rows = [r for r in csv.reader(f) if r and not r[0].startswith(("frame", "#"))]
    return np.array([[float(v) if v.lower() != "nan" else np.nan for v in r] for r in rows], dtype=np.float64)


@pytest.fixture(scope="session")
def golden(shared_dir):
    """golden(clip, feature) -> float64 [rows, 3] or pytest.skip when that file is absent."""

    def load(clip: str, feature: str) -> np.ndarray:
        arr = read_golden(shared_dir, clip, feature)
        if arr is None:
            pytest.skip(f"no MIRToolbox golden file for {clip} {feature}")
        return arr

    return load


# ------------------------------------------------------------------ made once per session, shared by suites


@pytest.fixture(scope="session")
def music_run(tmp_path_factory):
    """A tiny finished net_MUSIC run (real feature widths) and a copy of it in another directory (read only)."""
    import shutil

    from fake_data import make_fold_data, tiny_config

    from mgc_jax.train.loop import train_and_evaluate

    base = tmp_path_factory.mktemp("fusion")
    res = train_and_evaluate(tiny_config(epochs=1), base / "music", make_fold_data(("music",)),
                             in_bins={"music": 8, "stft": 513})
    shutil.copytree(res.run_dir, base / "music_copy")
    return res.run_dir, base / "music_copy"


@pytest.fixture(scope="session")
def runs(tmp_path_factory):
    """Tiny trained net_STFT and net_MUSIC run directories (real checkpoints; config.json with the paper's
    FeatureConfig): the two training runs of tests/support/fake_runs.py's tiny_crossval (read only)."""
    from fake_runs import tiny_crossval

    tiny = tiny_crossval(tmp_path_factory.getbasetemp())
    return {net: tiny.workdir.run_dir("fakecorpus", "stratified", net, 0) for net in ("stft", "music")}


@pytest.fixture(scope="session")
def bad_corpus(tmp_path_factory):
    """Every case of tests/support/bad_audio.py and two good tracks in one GTZAN-layout folder: (root, {name: path})."""
    import bad_audio

    root = tmp_path_factory.mktemp("bad_corpus")
    return root, bad_audio.write_corpus(root)


@pytest.fixture(scope="session")
def bad_corpus_extracted(bad_corpus, tmp_path_factory):
    """extraction.extract over every file of `bad_corpus`, bad ones included (no discovery filter), with the real
    dsp maps: (report, cache, workdir)."""
    import bad_audio

    import dsp
    from mgc_jax.data import cache, extraction
    from mgc_jax.data.track import Track
    from mgc_jax.workdir import Workdir

    cfg = dsp.FeatureConfig()
    root, paths = bad_corpus
    wd = Workdir(tmp_path_factory.mktemp("work"))
    tracks = [Track(bad_audio.track_id(n), p.parent.name, str(p)) for n, p in paths.items()]
    directory = wd.features_dir(root.resolve().name, cfg)  # where launch.extract looks for this corpus
    report = extraction.extract(tracks, directory, cfg, batch_size=2, progress=False)
    return report, cache.FeatureCache(directory), wd


@pytest.fixture
def fast_extract(monkeypatch):
    """Extraction with zero maps of the real shapes (tests/support/fake_extraction.py): corpus logic without the DSP
    cost; returns the FakeMaps (its `.shapes` lists the batches)."""
    import fake_extraction

    return fake_extraction.install(monkeypatch, "zeros")


@pytest.fixture
def fake_maps(monkeypatch):
    """Extraction with tests/support/fake_extraction.py's "spectrum" maps and nan counts 0..7 (so a test sees them
    stored); returns the FakeMaps (its `.shapes` lists the batches)."""
    import fake_extraction

    return fake_extraction.install(monkeypatch, "spectrum", nan_counts=range(8))


@pytest.fixture
def fake_extracted(tmp_path, monkeypatch):
    """Two 7 s tracks extracted into tmp_path/f with tests/support/fake_extraction.py's "level" maps (the cache's
    bookkeeping is under test, not dsp): (tracks, cache directory)."""
    import fake_extraction
    import soundfile as sf

    import dsp
    from mgc_jax.data import extraction
    from mgc_jax.data.track import Track

    fake_extraction.install(monkeypatch, "level")
    tracks = []
    for i in range(2):
        path = tmp_path / "audio" / f"blues.{i:05d}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, 0.1 * np.random.default_rng(i).standard_normal(7 * 22050), 22050, subtype="PCM_16")
        tracks.append(Track(path.stem, "blues", str(path)))
    extraction.extract(tracks, tmp_path / "f", dsp.FeatureConfig(), progress=False)
    return tracks, tmp_path / "f"


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory):
    """A tiny finished run (2 epochs, checkpoints 1 and 2) and its fold data; copy it before damaging it."""
    from fake_data import WIDTHS, make_fold_data, tiny_config

    from mgc_jax.train.loop import train_and_evaluate

    cfg = tiny_config(epochs=2)
    data = make_fold_data(cfg.kinds)
    res = train_and_evaluate(cfg, tmp_path_factory.mktemp("run") / "run", data, in_bins=WIDTHS)
    return res.run_dir, data


@pytest.fixture
def damaged_copy(trained_run, tmp_path):
    """make(how): a copy of `trained_run` with `how(copy)` applied (tests/support/damaged_files.py): (copy, data)."""
    run_dir, data = trained_run

    def make(how):
        copy = tmp_path / "run"
        shutil.copytree(run_dir, copy)
        how(copy)
        return copy, data

    return make


@pytest.fixture(scope="session")
def gtzan_mini(shared_dir, tmp_path_factory):
    """../shared/gtzan_mini (50 GTZAN tracks) prepared with the real dsp, and fold 0 of 5 stratified folds:
    (corpus, workdir, split). Slow: only the slow tests use it (sane, consistent outputs on real audio)."""
    root = shared_dir / "gtzan_mini" / "genres"
    if not root.is_dir():
        pytest.skip(f"{root} is absent")
    from mgc_jax.data.corpus import prepare_corpus
    from mgc_jax.data.folds import stratified_folds
    from mgc_jax.workdir import Workdir

    wd = Workdir(tmp_path_factory.mktemp("work"))
    corpus = prepare_corpus(str(root), wd, progress=False)
    return corpus, wd, stratified_folds(corpus.tracks, n_folds=5)[0]


@pytest.fixture(scope="session")
def two_genre_runs(tmp_path_factory):
    """Two tiny runs (net_MUSIC and net_STFT, k1 = 8, three epochs) trained on a 20-track corpus of 8 s synthetic
    tracks (two genres, real dsp; fold 0 tests on 2 tracks): (workdir, corpus, {net: run dir}). Read only."""
    from fake_data import tiny_config
    from short_corpus import two_genre_corpus

    from mgc_jax.data.corpus import prepare_corpus
    from mgc_jax.train import loop as train
    from mgc_jax.workdir import Workdir

    base = tmp_path_factory.mktemp("robustness")
    wd = Workdir(base / "ws")
    corpus = prepare_corpus(str(two_genre_corpus(base / "corpus")), wd, progress=False)
    # Three epochs: the nets classify some test tracks, so an attack has something to break.
    dirs = {net: train.run(tiny_config(net, epochs=3), wd, corpus).run_dir for net in ("music", "stft")}
    return wd, corpus, dirs
