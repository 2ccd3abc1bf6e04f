"""mgc_jax.eval.crossval: saved runs -> systems -> reports, resumability, fusion with the baseline, labelled corpora."""
from __future__ import annotations

import dataclasses
import json

import fake_extraction
import numpy as np
import pytest
from corpus_files import CLASSES, class_folder
from fake_data import tiny_config
from fake_runs import fold_tracks, tiny_crossval, write_fake_runs, write_run

from mgc_jax import evaluate
from mgc_jax.errors import DataError
from mgc_jax.eval import crossval, systems
from mgc_jax.evaluate import Bootstrap
from mgc_jax.train import rundir
from mgc_jax.workdir import Workdir

# ------------------------------------------------------------------------------------------- parsing


@pytest.mark.parametrize("spec,folds", [("0-9", tuple(range(10))), ("3", (3,)), ("0-2,5", (0, 1, 2, 5)),
                                        ("7, 1", (1, 7))])
def test_parse_folds(spec, folds):
    assert systems.parse_folds(spec) == folds


@pytest.mark.parametrize("spec", ["", "a", "3-1", "1,1", "0-2,2", "-1"])
def test_parse_folds_refuses(spec):
    with pytest.raises(ValueError, match="folds"):
        systems.parse_folds(spec)


def test_parse_nets():
    assert systems.parse_nets("stft,music,early") == ("stft", "music", "early")
    for bad in ("stft,cqt", "", "music,music"):
        with pytest.raises(ValueError, match="net"):
            systems.parse_nets(bad)


def test_names_agree_with_the_training_side():
    from mgc_jax.config import NET_KINDS

    assert set(systems.NET_SYSTEM) - {systems.BASELINE} == set(NET_KINDS)


# ----------------------------------------------------------------------------------- saved runs


def test_evaluate_runs_equals_a_direct_computation(tmp_path):
    wd = Workdir(tmp_path)
    saved = write_fake_runs(wd, "gtzan", "stratified", ("stft", "music"), (0, 1, 2))
    ev = systems.evaluate_runs(wd, "gtzan", "stratified", ("stft", "music"), (0, 1, 2), boot=Bootstrap(n_boot=100))
    assert list(ev.systems) == ["net_STFT", "net_MUSIC", "FUSION1", "FUSION2"] and ev.folds == (0, 1, 2)
    # Straight from the arrays written (no NaN padding involved).
    expect = {"net_STFT": [], "net_MUSIC": [], "FUSION1": [], "FUSION2": []}
    labels = []
    for fold in (0, 1, 2):
        ids, y, ps = saved["stft"][fold]
        _, _, pm = saved["music"][fold]
        labels.append(y)
        expect["net_STFT"] += [evaluate.majority_vote(p) for p in ps]
        expect["net_MUSIC"] += [evaluate.majority_vote(p) for p in pm]
        expect["FUSION1"] += [evaluate.fusion1(a, b) for a, b in zip(ps, pm)]
        expect["FUSION2"] += [evaluate.fusion2(a, b) for a, b in zip(ps, pm)]
        assert ev.systems["FUSION2"].track_ids[20 * fold: 20 * fold + 20] == tuple(ids)
    labels = np.concatenate(labels)
    for name, pred in expect.items():
        res = ev.systems[name]
        np.testing.assert_array_equal(res.predictions, pred)
        np.testing.assert_array_equal(res.labels, labels)
        np.testing.assert_array_equal(res.folds, np.repeat([0, 1, 2], 20))
        assert res.summary.pooled == pytest.approx(np.mean(np.array(pred) == labels))
        np.testing.assert_array_equal(res.confusion, evaluate.confusion_matrix(labels, pred))
    # The fake nets are imperfect and disagree: the fused systems differ from each net somewhere.
    assert 0.5 < ev.systems["net_STFT"].summary.pooled < 1.0
    assert (ev.systems["FUSION1"].predictions != ev.systems["net_STFT"].predictions).any()
    assert ev.runs["music"][2] == str(wd.run_dir("gtzan", "stratified", "music", 2))


def test_unfinished_run_is_named(tmp_path):
    wd = Workdir(tmp_path)
    write_fake_runs(wd, "gtzan", "stratified", ("stft", "music"), (0, 1))
    (wd.run_dir("gtzan", "stratified", "music", 1) / "test_probs.npz").unlink()
    with pytest.raises(DataError, match=r"music/fold1.*launch\.crossval and the same --split/--n_folds/--data_dir$"):
        systems.evaluate_runs(wd, "gtzan", "stratified", ("stft", "music"), (0, 1))


def test_runs_asked_for_under_another_split_point_at_the_ones_there(tmp_path):
    wd = Workdir(tmp_path)
    write_fake_runs(wd, "c", "stratified-5folds", ("stft", "music"), (0,))  # what --n_folds=5 trained
    with pytest.raises(DataError, match=r"this corpus has runs under stratified-5folds of .*runs/c\)$"):
        systems.collect(wd, "c", "stratified", ("stft", "music"), (0,))


def test_runs_of_one_fold_must_test_the_same_tracks(tmp_path):
    wd = Workdir(tmp_path)
    saved = write_fake_runs(wd, "gtzan", "stratified", ("stft", "music"), (0,))
    ids, y, p = saved["music"][0]
    write_run(wd.run_dir("gtzan", "stratified", "music", 0), ids[::-1], y[::-1], p[::-1])
    with pytest.raises(DataError, match="other tracks"):
        systems.evaluate_runs(wd, "gtzan", "stratified", ("stft", "music"), (0,))
    write_run(wd.run_dir("gtzan", "stratified", "music", 0), ids, y, [q[:-1] for q in p])
    with pytest.raises(DataError, match="clip counts"):
        systems.evaluate_runs(wd, "gtzan", "stratified", ("stft", "music"), (0,))


def test_bad_test_probs_file_is_named(tmp_path):
    bad = tmp_path / "test_probs.npz"
    bad.write_text("not a zip")
    with pytest.raises(DataError, match=str(bad)):
        rundir.read_test_probs(bad)
    ids, y = fold_tracks(0)
    np.savez(bad, track_ids=np.array(ids), labels=y)
    with pytest.raises(DataError, match="missing probs, n_clips, genres"):
        rundir.read_test_probs(bad)


# -------------------------------------------------------------------------- training through train.run


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    return tiny_crossval(tmp_path_factory.getbasetemp())


def test_run_trains_the_missing_runs_once_and_writes_the_reports(tiny):
    """crossval.run through the real train.run (tests/support/fake_runs.py: tiny_crossval made the first call)."""
    wd, corpus, cfg, first = tiny
    assert first.training.trained == [("stft", 0), ("music", 0)] and first.training.reused == []
    out = wd.results_dir("fakecorpus", "stratified")
    assert {p.name for p in first.written.values()} == {"table2.md", "table1.md", "results.json",
                                                         "confusion_net_STFT.png", "confusion_net_MUSIC.png",
                                                         "confusion_FUSION1.png", "confusion_FUSION2.png"}
    assert all(p.parent == out and p.is_file() for p in first.written.values())
    # The vote read back from test_probs.npz agrees with the accuracy train.run reported.
    for net, system in (("stft", "net_STFT"), ("music", "net_MUSIC")):
        result = json.loads((wd.run_dir("fakecorpus", "stratified", net, 0) / "result.json").read_text())
        assert first.evaluation.systems[system].summary.fold_accuracy[0] == result["test_track_acc"]

    stamps = {p: p.stat().st_mtime_ns for p in (wd.root / "runs").rglob("*") if p.is_file()}
    prepared = []
    lazy = crossval.LazyCorpus("fakecorpus", lambda: prepared.append(1) or corpus)
    again = crossval.run(cfg, wd, lazy, nets=("stft", "music"), folds=(0,), boot=Bootstrap(n_boot=100))
    assert again.training.trained == [] and len(again.training.reused) == 2 and again.training.mismatched == []
    assert prepared == []  # nothing to train: the corpus was never prepared
    assert {p: p.stat().st_mtime_ns for p in (wd.root / "runs").rglob("*") if p.is_file()} == stamps
    assert (out / "table2.md").read_text() == first.written["table2.md"].read_text()

    # Asking for another config reuses the finished runs and says so.
    other = crossval.run(dataclasses.replace(cfg, learning_rate=1e-2), wd, lazy, nets=("stft", "music"),
                         folds=(0,), boot=Bootstrap(n_boot=100))
    assert [m[:2] for m in other.training.mismatched] == [("stft", 0), ("music", 0)]
    assert "learning_rate: 0.001 (saved) != 0.01 (now)" in other.training.mismatched[0][2]
    assert "reused from a run with another config" in (out / "table2.md").read_text()
    crossval.run(cfg, wd, lazy, nets=("stft", "music"), folds=(0,), boot=Bootstrap(n_boot=100))  # leave the tables as they were


def test_crossval_on_a_labelled_folder_names_its_classes(tmp_path, monkeypatch):
    fake_extraction.install(monkeypatch, "spectrum")  # maps that differ by class, without the DSP cost
    from mgc_jax.data.corpus import prepare_corpus
    from mgc_jax.train.checkpoint import CheckpointError, RunCheckpoints

    root = class_folder(tmp_path)
    wd = Workdir(tmp_path / "ws")
    corpus = prepare_corpus(str(root), wd, progress=False)
    assert corpus.kind == "folder" and corpus.classes == CLASSES and len(corpus.tracks) == 15
    cfg = tiny_config(epochs=1, batch_size=8, n_folds=3)
    res = crossval.run(cfg, wd, corpus, nets=("music",), folds=(1,), boot=Bootstrap(n_boot=50), baseline=True)

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

    again = crossval.run(cfg, wd, corpus, nets=("music",), folds=(1,), boot=Bootstrap(n_boot=50), baseline=True)
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
    ev = systems.evaluate_probs(fp, corpus="c", split="manifest", kind="manifest", boot=Bootstrap(n_boot=20))
    assert list(ev.systems) == ["net_STFT", "net_MUSIC", "FUSION1", "FUSION2", "baseline", "FUSION2+baseline"]
    assert ev.systems["FUSION2"].predictions.tolist() == [0, 0]  # a tie of means: the lowest index
    assert ev.systems["baseline"].predictions.tolist() == [1, 1]
    assert ev.systems["FUSION2+baseline"].predictions.tolist() == [1, 1]  # the baseline breaks the nets' tie
    assert evaluate.fusion2_track(stft[0], music[0], np.array([0.0, 0.0, 1.0])) == 2  # (.3, .3, .4) per clip
    with pytest.raises(ValueError, match="do not fit"):
        evaluate.fusion2_track(stft[0], music[0], np.ones(2))
    other = {**fp, "baseline": {0: FoldProbs(("a", "c"), labels, base, CLASSES)}}
    with pytest.raises(crossval.DataError, match="the baseline run of this fold tested other tracks"):
        systems.evaluate_probs(other, corpus="c", split="manifest", boot=Bootstrap(n_boot=20))


def _damage(path, how: str) -> None:
    data = bytearray(path.read_bytes())
    if how == "flip":  # zipfile: "Bad CRC-32"
        data[len(data) // 2: len(data) // 2 + 64] = bytes(64)
    else:  # "File is not a zip file"
        del data[len(data) // 2:]
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_damaged_test_probs_in_crossval_is_one_line(tmp_path, damage):
    wd = Workdir(tmp_path)
    write_fake_runs(wd, "gtzan", "stratified", ("stft", "music"), (0,))
    bad = wd.run_dir("gtzan", "stratified", "music", 0) / rundir.TEST_PROBS
    _damage(bad, damage)
    with pytest.raises(DataError, match=f"^{bad}: damaged test probabilities .*re-classifies its test tracks"):
        systems.evaluate_runs(wd, "gtzan", "stratified", ("stft", "music"), (0,))
