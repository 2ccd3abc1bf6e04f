"""Training, cross-validation, fusion, the baseline and prediction on corpora that are not GTZAN (issue 12).

The fast tests build a labelled folder with the issue's names (three classes, 5 tracks each, distinct
synthetic signals per class) and replace the DSP by a stand-in of the real shapes; the slow ones run the
launchers on real features: a folder -> `launch.train` -> `launch.predict --json`, and a manifest with a
split column -> `launch.train` (music, stft) -> `launch.fuse --json`.
"""
from __future__ import annotations

import csv
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from mgc_jax.data import extraction, synthetic
from mgc_jax.eval import crossval
from mgc_jax.train import rundir
from mgc_jax.workdir import Workdir

REPO = pathlib.Path(__file__).resolve().parents[1]
CLASSES = ("Acoustic", "Beats", "Electric")
SOUND = {"Acoustic": "classical", "Beats": "hiphop", "Electric": "metal"}  # a synthetic genre's signal per class
FILES = {"Acoustic": ["live sets/take 1 (final).wav", "studio/Été 2.flac", "a_b.wav", "a b.wav", "x.wav"],
         "Electric": ["Track_1.WAV", "Track_2.wav", "deep/er/Track 3.Wav", "x (1).wav", "y.wav"],
         "Beats": ["beat-1.wav", "beat-2.wav", "beat-3.wav", "BEAT-4.WAV", "b5.wav"]}
SECONDS = 7.0  # 300 frames: 3 clips of 128 frames (hop 64), one key-clarity window


def write_track(path: pathlib.Path, cls: str, i: int, seconds: float = SECONDS) -> pathlib.Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    x = synthetic.render_track(SOUND[cls], i, n_samples=int(seconds * 22050))
    fmt = "FLAC" if path.suffix.lower() == ".flac" else "WAV"
    sf.write(path, x, 22050, format=fmt)  # format given: the extension may be .WAV
    return path


def my_music(root: pathlib.Path, seconds: float = SECONDS) -> pathlib.Path:
    """`root/my music/<class>/...`: the issue's three files among five per class."""
    for cls, names in FILES.items():
        for i, name in enumerate(names):
            write_track(root / "my music" / cls / name, cls, i, seconds)
    return root / "my music"


@pytest.fixture
def stand_in_features(monkeypatch):
    """extraction._extract_batch replaced by maps of the real shapes that depend on the signal (its level
    and spectrum), so classes differ without the DSP cost."""
    import dsp

    def maps(x, cfg):
        x = np.asarray(x)
        t = dsp.n_frames(x.shape[1], cfg)
        spec = np.abs(np.fft.rfft(x[:, : 2 * (cfg.n_bins - 1)], axis=1)).astype(np.float32)  # [B, n_bins]
        music = np.repeat(np.stack([x.std(1), np.abs(x).mean(1)] * 4, 1)[:, None, :], t, 1).astype(np.float32)
        return music, np.zeros((len(x), 8), np.int32), np.repeat(spec[:, None, :], t, 1)

    monkeypatch.setattr(extraction, "_extract_batch", maps)


def _tiny(**kw):
    from fake_data import tiny_config

    return tiny_config(**{"epochs": 1, "batch_size": 8, **kw})


def test_crossval_on_a_labelled_folder_names_its_classes(tmp_path, stand_in_features):
    from mgc_jax.data.corpus import prepare_corpus
    from mgc_jax.train.checkpoint import CheckpointError, RunCheckpoints

    root = my_music(tmp_path)
    wd = Workdir(tmp_path / "ws")
    corpus = prepare_corpus(str(root), wd, progress=False)
    assert corpus.kind == "folder" and corpus.classes == CLASSES and len(corpus.tracks) == 15
    cfg = _tiny(n_folds=3)
    res = crossval.run(cfg, wd, corpus, nets=("music",), folds=(1,), n_boot=50, baseline=True)

    run = wd.run_dir(corpus.name, "stratified", "music", 1, n_folds=3)
    assert run.parent.parent.name == "stratified-3folds" and rundir.is_finished(run)
    config = rundir.read_config(run)
    assert config["classes"] == list(CLASSES) and config["corpus_kind"] == "folder"
    assert config["train"]["n_folds"] == 3 and config["train"]["model"]["num_classes"] == 3
    assert rundir.read_test_probs(run).genres == CLASSES and rundir.run_classes(run) == CLASSES
    assert rundir.read_test_probs(run).probs[0].shape == (3, 3)  # 3 clips x 3 classes: the head is the corpus's
    other = {**config, "classes": ["a", "b", "c"]}  # the checkpoints' metadata carries the classes too
    with RunCheckpoints((run / rundir.CHECKPOINTS).absolute(), config=other, score=lambda m: 0) as ckpts:
        with pytest.raises(CheckpointError, match="classes"):
            ckpts.check_config(ckpts.latest_step())

    ev = res.evaluation
    assert ev.genres == CLASSES and ev.kind == "folder" and ev.n_folds == 3 and ev.folds == (1,)
    assert list(ev.systems) == ["net_MUSIC", "baseline"]  # fusions: test_fusions_with_the_baseline, slow tests
    base = rundir.read_test_probs(wd.run_dir(corpus.name, "stratified", "baseline", 1, n_folds=3))
    music = rundir.read_test_probs(run)
    assert base.track_ids == music.track_ids == tuple(corpus.split(wd, "stratified", 1, n_folds=3).test)
    assert all(s.summary.n_tracks == len(base.track_ids) for s in ev.systems.values())  # the same test tracks
    assert sorted({CLASSES[y] for y in base.labels}) == list(CLASSES)  # stratified: every class in the test block
    out = wd.results_dir(corpus.name, "stratified", n_folds=3)
    t2, t1 = (out / "table2.md").read_text(), (out / "table1.md").read_text()
    assert "| baseline (MFCC+SVM) |" in t2 and "stratified split (3 folds)" in t2 and "paper" not in t2.lower()
    assert f"the test tracks of fold 1 ({len(base.track_ids)} tracks)" in t2
    assert "| true \\ predicted | Acoustic | Beats | Electric | tracks |" in t1 and " / " not in t1
    js = json.loads((out / "results.json").read_text())
    assert js["classes"] == list(CLASSES) and js["paper"] is None and js["n_folds"] == 3

    again = crossval.run(cfg, wd, corpus, nets=("music",), folds=(1,), n_boot=50, baseline=True)
    assert again.training.trained == [] and again.training.mismatched == []  # the head size is not a mismatch
    assert crossval.fit_missing_baselines(wd, corpus, "stratified", (1,), n_folds=3) == []
    assert crossval.fit_missing_baselines(wd, corpus, "stratified", (0,), n_folds=3) == [0]  # fold 0: fitted now


def test_fusions_with_the_baseline():
    """FUSION2+baseline: the baseline's track probabilities are a third voice in every clip; the baseline's
    one row per track does not trip the nets' clip-count check, other test tracks do."""
    from mgc_jax import evaluate
    from mgc_jax.train.rundir import FoldProbs

    ids, labels = ("a", "b"), np.array([0, 1], np.int32)
    stft = (np.array([[0.5, 0.4, 0.1]] * 3, np.float32), np.array([[0.4, 0.5, 0.1]] * 2, np.float32))
    music = (np.array([[0.4, 0.5, 0.1]] * 3, np.float32), np.array([[0.5, 0.4, 0.1]] * 2, np.float32))
    base = (np.array([[0.1, 0.8, 0.1]], np.float32), np.array([[0.1, 0.8, 0.1]], np.float32))
    fp = {net: {0: FoldProbs(ids, labels, p, CLASSES)} for net, p in (("stft", stft), ("music", music),
                                                                      ("baseline", base))}
    ev = crossval.evaluate_probs(fp, corpus="c", split="manifest", kind="manifest", n_boot=20)
    assert list(ev.systems) == ["net_STFT", "net_MUSIC", "FUSION1", "FUSION2", "baseline", "FUSION2+baseline"]
    assert ev.systems["FUSION2"].predictions.tolist() == [0, 0]  # a tie of means: the lowest index
    assert ev.systems["baseline"].predictions.tolist() == [1, 1]
    assert ev.systems["FUSION2+baseline"].predictions.tolist() == [1, 1]  # the baseline breaks the nets' tie
    assert evaluate.fusion2_track(stft[0], music[0], np.array([0.0, 0.0, 1.0])) == 2  # (.3, .3, .4) per clip
    with pytest.raises(ValueError, match="do not fit"):
        evaluate.fusion2_track(stft[0], music[0], np.ones(2))
    other = {**fp, "baseline": {0: FoldProbs(("a", "c"), labels, base, CLASSES)}}
    with pytest.raises(crossval.DataError, match="the baseline run of this fold tested other tracks"):
        crossval.evaluate_probs(other, corpus="c", split="manifest", n_boot=20)


def test_small_classes_need_fewer_folds(tmp_path, stand_in_features):
    from mgc_jax.data.corpus import prepare_corpus
    from mgc_jax.errors import DataError
    from mgc_jax.train import loop as train

    wd = Workdir(tmp_path / "ws")
    corpus = prepare_corpus(str(my_music(tmp_path)), wd, progress=False)
    with pytest.raises(DataError, match="class 'Acoustic' has 5 tracks: 10 folds need at least 10 per class"):
        train.run(_tiny(), wd, corpus)
    with pytest.raises(DataError, match="needs a manifest with a split column"):
        train.run(_tiny(split="manifest"), wd, corpus)
    assert not (wd.root / "runs").exists()


def test_a_run_does_not_resume_on_other_audio_under_the_same_names(tmp_path, stand_in_features):
    """Two copies of a corpus with the same name and track ids (e.g. two GTZAN folders called gtzan) share run
    directories; the run records its tracks' audio hashes, so it refuses to resume on the other copy's."""
    from mgc_jax.data.corpus import prepare_corpus
    from mgc_jax.train import loop as train
    from mgc_jax.train.checkpoint import CheckpointError

    wd = Workdir(tmp_path / "ws")
    root = my_music(tmp_path)
    cfg = _tiny(n_folds=3)
    first = train.run(cfg, wd, prepare_corpus(str(root), wd, progress=False))
    saved = rundir.read_config(first.run_dir)["audio_sha256"]
    again = train.run(cfg, wd, prepare_corpus(str(root), wd, progress=False))  # same audio: reused as before
    assert again.run_dir == first.run_dir and again.test_accuracy == first.test_accuracy
    write_track(root / "Beats" / "beat-1.wav", "Electric", 7)  # same path and id, other audio
    with pytest.raises(CheckpointError, match=f"audio_sha256: '{saved}' \\(saved\\) != '[0-9a-f]{{16}}' \\(now\\).*"
                                              "audio differs"):
        train.run(cfg, wd, prepare_corpus(str(root), wd, progress=False))


def test_old_runs_without_classes_read_as_gtzan(tmp_path):
    from fake_runs import write_run

    from mgc_jax.data.gtzan import GENRES

    d = tmp_path / "run"
    write_run(d, ["blues.00000"], np.array([0]), [np.full((2, 10), 0.1, np.float32)], GENRES)
    (d / rundir.TEST_PROBS).unlink()
    assert rundir.run_classes(d) == GENRES  # neither config classes nor test probabilities: GTZAN's
    assert rundir.run_corpus_kind({"corpus": "synthetic"}) == "synthetic"
    assert rundir.run_corpus_kind({"corpus": "gtzan"}) == "gtzan"


# ------------------------------------------------------------------------------------- launchers (slow)


def _launch(module, *args, timeout=900):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.mark.slow
def test_a_folder_trains_and_predict_names_its_classes(tmp_path):
    """The issue's folder: `launch.train` on it, then `launch.predict --json` names Acoustic/Beats/Electric."""
    root = my_music(tmp_path)
    ws = tmp_path / "ws"
    proc = _launch("launch.train", "--net=music", f"--data_dir={root}", "--n_folds=3", "--epochs=2", "--k1=16",
                   f"--workdir={ws}")
    assert "classes:            Acoustic, Beats, Electric (folder corpus, 15 tracks)" in proc.stdout
    assert "num_classes=3," in proc.stderr and "num_classes=10" not in proc.stderr  # the logged config is the run's
    from mgc_jax.data.sources import corpus_name

    run = Workdir(ws).run_dir(corpus_name(root), "stratified", "music", 0, n_folds=3)
    files = [str(root / "Acoustic" / "live sets" / "take 1 (final).wav"), str(root / "Beats" / "beat-1.wav")]
    out = json.loads(_launch("launch.predict", f"--checkpoint={run}", "--json", *files).stdout)
    assert out["classes"] == list(CLASSES) and [f["file"] for f in out["files"]] == files
    for f in out["files"]:
        assert f["genre"] in CLASSES and {g for g, _ in f["top"]} == set(CLASSES) and set(f["votes"]) <= set(CLASSES)


@pytest.mark.slow
def test_a_manifest_trains_both_nets_and_fuses_with_the_baseline(tmp_path):
    """`launch.train` (music, stft) on a manifest's split column, then `launch.fuse --json`: nets, fusions and the
    baseline, on the manifest's test tracks."""
    audio = tmp_path / "audio"
    rows = []
    for cls in CLASSES:
        for i, split in enumerate(["train"] * 3 + ["valid", "test"]):
            path = write_track(audio / f"{cls.lower()} {i}.wav", cls, i)
            rows.append({"path": path.name, "label": cls, "artist": f"{cls} band {i % 2}", "split": split})
    manifest = audio / "corpus.csv"
    with open(manifest, "w", newline="") as f:
        w = csv.DictWriter(f, ["path", "label", "artist", "split"])
        w.writeheader()
        w.writerows(rows)
    common = [f"--data_dir={manifest}", "--split=manifest", f"--workdir={tmp_path / 'ws'}"]
    for net in ("music", "stft"):
        _launch("launch.train", f"--net={net}", "--epochs=1", "--k1=8", *common)
    out = json.loads(_launch("launch.fuse", "--json", "--n_boot=100", *common).stdout)
    assert sorted(out["nets"]) == ["net_MUSIC", "net_STFT"]
    assert sorted(out["systems"]) == ["FUSION1", "FUSION2", "FUSION2+baseline", "baseline"]
    assert out["classes"] == list(CLASSES) and out["corpus_kind"] == "manifest" and out["n_tracks"] == 3
    assert out["split"] == "manifest" and out["n_folds"] == 1 and out["folds"] == [0]
    assert all(0 <= s["accuracy"] <= 1 and s["n_tracks"] == 3 for s in out["systems"].values())
    assert out["systems"]["baseline"]["paper"] is None


@pytest.mark.parametrize("module,args,message", [
    ("launch.fuse", ["--split=manifest", "--n_folds=5"], "error: --n_folds=5: the manifest split has one fixed"),
    ("launch.crossval", ["--n_folds=2"], "error: --n_folds=2: expected an int >= 3"),
    ("launch.train", ["--net=music", "--n_folds=5", "--fold=7"], "error: --fold=7: expected 0..4"),
    ("launch.crossval", ["--n_folds=4", "--folds=4"], "error: --folds=4: fold 4 out of range: the stratified split "
                                                      "has folds 0..3"),
])
def test_fold_count_flags_give_one_line(tmp_path, module, args, message):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, "-m", module, *args, f"--workdir={tmp_path / 'ws'}"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and proc.stderr.strip().splitlines()[-1].startswith(message), proc.stderr[-2000:]
    assert not (tmp_path / "ws").exists()


def test_fuse_without_a_corpus_says_how_to_skip_the_baseline(tmp_path):
    from fake_runs import write_fake_runs

    write_fake_runs(Workdir(tmp_path), "gtzan", "stratified", ("stft", "music"), (0,))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, "-m", "launch.fuse", "--fold=0", f"--data_dir={tmp_path / 'gtzan'}",
                           f"--workdir={tmp_path}"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    last = proc.stderr.strip().splitlines()[-1]
    assert proc.returncode == 1 and "no such folder" in last and "--nobaseline fuses the saved nets alone" in last
