"""mgc_jax.eval.crossval and the launch.crossval / launch.fuse commands: saved runs -> systems -> reports, resumability."""
from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from fake_runs import fold_tracks, tiny_crossval, write_fake_runs, write_run

from mgc_jax import evaluate
from mgc_jax.errors import DataError
from mgc_jax.eval import crossval
from mgc_jax.train import rundir
from mgc_jax.workdir import Workdir

REPO = pathlib.Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------------------- parsing


@pytest.mark.parametrize("spec,folds", [("0-9", tuple(range(10))), ("3", (3,)), ("0-2,5", (0, 1, 2, 5)),
                                        ("7, 1", (1, 7))])
def test_parse_folds(spec, folds):
    assert crossval.parse_folds(spec) == folds


@pytest.mark.parametrize("spec", ["", "a", "3-1", "1,1", "0-2,2", "-1"])
def test_parse_folds_refuses(spec):
    with pytest.raises(ValueError, match="folds"):
        crossval.parse_folds(spec)


def test_parse_nets():
    assert crossval.parse_nets("stft,music,early") == ("stft", "music", "early")
    for bad in ("stft,cqt", "", "music,music"):
        with pytest.raises(ValueError, match="net"):
            crossval.parse_nets(bad)


def test_names_agree_with_the_training_side():
    from mgc_jax.config import NET_KINDS

    assert set(crossval.NETS) == set(NET_KINDS)


# ----------------------------------------------------------------------------------- saved runs


def test_evaluate_runs_equals_a_direct_computation(tmp_path):
    wd = Workdir(tmp_path)
    saved = write_fake_runs(wd, "gtzan", "stratified", ("stft", "music"), (0, 1, 2))
    ev = crossval.evaluate_runs(wd, "gtzan", "stratified", ("stft", "music"), (0, 1, 2), n_boot=100)
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
        crossval.evaluate_runs(wd, "gtzan", "stratified", ("stft", "music"), (0, 1))


def test_runs_asked_for_under_another_split_point_at_the_ones_there(tmp_path):
    wd = Workdir(tmp_path)
    write_fake_runs(wd, "c", "stratified-5folds", ("stft", "music"), (0,))  # what --n_folds=5 trained
    with pytest.raises(DataError, match=r"this corpus has runs under stratified-5folds of .*runs/c\)$"):
        crossval.collect(wd, "c", "stratified", ("stft", "music"), (0,))


def test_runs_of_one_fold_must_test_the_same_tracks(tmp_path):
    wd = Workdir(tmp_path)
    saved = write_fake_runs(wd, "gtzan", "stratified", ("stft", "music"), (0,))
    ids, y, p = saved["music"][0]
    write_run(wd.run_dir("gtzan", "stratified", "music", 0), ids[::-1], y[::-1], p[::-1])
    with pytest.raises(DataError, match="other tracks"):
        crossval.evaluate_runs(wd, "gtzan", "stratified", ("stft", "music"), (0,))
    write_run(wd.run_dir("gtzan", "stratified", "music", 0), ids, y, [q[:-1] for q in p])
    with pytest.raises(DataError, match="clip counts"):
        crossval.evaluate_runs(wd, "gtzan", "stratified", ("stft", "music"), (0,))


def test_bad_test_probs_file_is_named(tmp_path):
    bad = tmp_path / "test_probs.npz"
    bad.write_text("not a zip")
    with pytest.raises(DataError, match=str(bad)):
        rundir.read_test_probs(bad)
    ids, y = fold_tracks(0)
    np.savez(bad, track_ids=np.array(ids), labels=y)
    with pytest.raises(DataError, match="missing probs, n_clips, genres"):
        rundir.read_test_probs(bad)


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_damaged_test_probs_in_fuse_and_crossval_is_one_line(tmp_path, damage):
    wd = Workdir(tmp_path)
    write_fake_runs(wd, "gtzan", "stratified", ("stft", "music"), (0,))
    bad = wd.run_dir("gtzan", "stratified", "music", 0) / rundir.TEST_PROBS
    data = bytearray(bad.read_bytes())
    if damage == "flip":  # zipfile: "Bad CRC-32"
        data[len(data) // 2: len(data) // 2 + 64] = bytes(64)
    else:  # "File is not a zip file"
        del data[len(data) // 2:]
    bad.write_bytes(bytes(data))
    with pytest.raises(DataError, match=f"^{bad}: damaged test probabilities .*re-classifies its test tracks"):
        crossval.evaluate_runs(wd, "gtzan", "stratified", ("stft", "music"), (0,))
    if damage == "flip":  # one launch is enough to see the line the user gets
        proc = _launch("launch.fuse", "--fold=0", "--nobaseline", f"--data_dir={tmp_path / 'gtzan'}",
                       f"--workdir={tmp_path}")
        assert proc.returncode == 1 and "Traceback" not in proc.stderr
        last = proc.stderr.strip().splitlines()[-1]
        assert last.startswith(f"error: {bad}: damaged test probabilities (") and "re-classifies" in last


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
    again = crossval.run(cfg, wd, lazy, nets=("stft", "music"), folds=(0,), n_boot=100)
    assert again.training.trained == [] and len(again.training.reused) == 2 and again.training.mismatched == []
    assert prepared == []  # nothing to train: the corpus was never prepared
    assert {p: p.stat().st_mtime_ns for p in (wd.root / "runs").rglob("*") if p.is_file()} == stamps
    assert (out / "table2.md").read_text() == first.written["table2.md"].read_text()

    # Asking for another config reuses the finished runs and says so.
    other = crossval.run(dataclasses.replace(cfg, learning_rate=1e-2), wd, lazy, nets=("stft", "music"),
                         folds=(0,), n_boot=100)
    assert [m[:2] for m in other.training.mismatched] == [("stft", 0), ("music", 0)]
    assert "learning_rate: 0.001 (saved) != 0.01 (now)" in other.training.mismatched[0][2]
    assert "reused from a run with another config" in (out / "table2.md").read_text()
    crossval.run(cfg, wd, lazy, nets=("stft", "music"), folds=(0,), n_boot=100)  # leave the tables as they were


# ------------------------------------------------------------------------------------------ launchers


def _launch(module, *args, timeout=300):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=timeout)


def _paper_defaults(net, fold, **kw):
    from mgc_jax.config import TrainConfig

    return TrainConfig(net=net, fold=fold, **kw).to_dict()


def test_launch_crossval_on_finished_runs_trains_nothing_and_prepares_nothing(tmp_path):
    wd = Workdir(tmp_path)
    write_fake_runs(wd, "synthetic", "stratified", ("stft", "music"), range(10),
                    train_cfg=lambda net, fold: _paper_defaults(net, fold, epochs=3))
    proc = _launch("launch.crossval", "--nets=stft,music", "--folds=0-9", "--epochs=3", "--nobaseline",
                   f"--workdir={tmp_path}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "trained 0 runs, reused 20 finished runs" in proc.stdout
    assert "warning" not in proc.stdout
    out = wd.results_dir("synthetic", "stratified")
    for name in ("table2.md", "table1.md", "results.json", "confusion_FUSION2.png"):
        assert f"wrote {out / name}" in proc.stdout
    assert "| FUSION2 |" in proc.stdout and "91.0 ± 1.2" not in proc.stdout  # Table 2; no paper: not GTZAN
    assert not (tmp_path / "corpora").exists() and not (tmp_path / "features").exists()
    assert json.loads((out / "results.json").read_text())["n_tracks"] == 200


@pytest.mark.parametrize("args,message", [
    (["--nets=stft,cqt"], "error: --nets=stft,cqt: nets: unknown net 'cqt'"),
    (["--folds=3-1"], "error: --folds=3-1: folds '3-1': empty range 3-1"),
    (["--split=filtered", "--folds=0-9"], "error: --folds=0-9: the filtered split has one train/valid/test split"),
    (["--epochs=0"], "error: --epochs=0: must be >= 1"),  # the only case that gets as far as importing JAX
    (["--n_boot=10000000000"], "error: --n_boot=10000000000: must be in 1..1000000"),
    (["--bootstrap_seed=-3"], "error: --bootstrap_seed=-3: must be in 0..9223372036854775807"),
    (["--n_folds=100000000000000000000"], "error: --n_folds=100000000000000000000: expected an int >= 3 and <= 1000"),
])
def test_launch_crossval_bad_flags_give_one_line(tmp_path, args, message):
    proc = _launch("launch.crossval", *args, f"--workdir={tmp_path}")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith(message)
    assert "Traceback" not in proc.stderr and not any(tmp_path.iterdir())


def test_launch_fuse_prints_the_fusion_rows(tmp_path):
    wd = Workdir(tmp_path)
    write_fake_runs(wd, "gtzan", "stratified", ("stft", "music"), (0, 1, 2, 3))
    ev = crossval.evaluate_runs(wd, "gtzan", "stratified", ("stft", "music"), (3,), n_boot=1000)
    data_dir = tmp_path / "gtzan"  # only its name matters: nothing is read from it
    proc = _launch("launch.fuse", "--fold=3", "--nobaseline", f"--data_dir={data_dir}", f"--workdir={tmp_path}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| FUSION")]
    s1, s2 = ev.systems["FUSION1"].summary, ev.systems["FUSION2"].summary
    assert rows[0].startswith(f"| FUSION1 | {100 * s1.pooled:.1f} ± {100 * s1.ci_half_width:.1f} | 90.5 ± 0.7 |")
    assert rows[1].startswith(f"| FUSION2 | {100 * s2.pooled:.1f} ± {100 * s2.ci_half_width:.1f} | 91.0 ± 1.2 |")
    assert "net_STFT" in proc.stdout.splitlines()[0] and "| net_" not in proc.stdout

    js = _launch("launch.fuse", "--folds=0-3", "--json", "--nobaseline", f"--data_dir={data_dir}",
                 f"--workdir={tmp_path}")
    assert js.returncode == 0, js.stderr[-3000:]
    out = json.loads(js.stdout)
    assert sorted(out["systems"]) == ["FUSION1", "FUSION2"] and out["folds"] == [0, 1, 2, 3] and out["n_tracks"] == 80

    missing = _launch("launch.fuse", "--folds=0-9", f"--data_dir={data_dir}", f"--workdir={tmp_path}")  # nets first
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    assert str(wd.run_dir("gtzan", "stratified", "stft", 4)) in missing.stderr.strip().splitlines()[-1]
    both = _launch("launch.fuse", "--fold=1", "--folds=0-9", f"--workdir={tmp_path}")
    assert both.returncode == 2 and both.stderr.strip().splitlines()[-1] == "error: give --fold or --folds, not both"


@pytest.mark.slow
def test_launch_crossval_end_to_end_on_a_synthetic_corpus(tmp_path):
    """The issue's acceptance run: both nets, ten folds, tiny epochs, on a freshly made synthetic corpus; then the
    same command again trains nothing and rewrites the same tables."""
    args = ["--nets=stft,music", "--folds=0-9", "--epochs=2", "--k1=16", "--tracks_per_genre=10",
            f"--workdir={tmp_path}"]
    first = _launch("launch.crossval", *args, timeout=3600)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "trained 20 runs, reused 0 finished runs" in first.stdout
    out = Workdir(tmp_path).results_dir("synthetic", "stratified")
    table2 = (out / "table2.md").read_text()
    for system in ("net_STFT", "net_MUSIC", "FUSION1", "FUSION2"):
        assert f"| {system} |" in table2 and (out / f"confusion_{system}.png").is_file()
    results = json.loads((out / "results.json").read_text())
    assert results["n_tracks"] == 100 and results["folds"] == list(range(10))
    again = _launch("launch.crossval", *args, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "trained 0 runs, reused 20 finished runs" in again.stdout
    assert (out / "table2.md").read_text() == table2
