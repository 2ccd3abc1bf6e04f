"""mgc_jax.train.loop on tiny in-memory folds (tests/support/fake_data.py): learning, run files, determinism, resume
(including a SIGKILL mid-run), config checks, standardisation and load_trained."""
from __future__ import annotations

import copy
import dataclasses
import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest
from fake_data import GENRES, WIDTHS, make_fold_data, tiny_config
from flax import nnx

from mgc_jax.config import ModelConfig, TrainConfig, paper_config
from mgc_jax.data.clips import ClipDataset
from mgc_jax.data.folds import get_split
from mgc_jax.evaluate import majority_vote
from mgc_jax.nets.standardize import Standardizer
from mgc_jax.serve.inference import load_trained
from mgc_jax.train import loop as train
from mgc_jax.train import rundir
from mgc_jax.train.checkpoint import CheckpointError
from mgc_jax.train.loop import train_and_evaluate
from mgc_jax.train.rundir import TEST_PROBS_KEYS
from mgc_jax.train.steps import split_train_step, track_metrics, train_step

REPO = pathlib.Path(__file__).resolve().parents[1]
TIMING_KEYS = ("clips_per_s", "epoch_s", "eta_s")  # wall-clock fields: the only ones allowed to differ


def run(tmp_path, name="run", data=None, **overrides):
    cfg = tiny_config(**overrides)
    data = data or make_fold_data(cfg.kinds)
    return train_and_evaluate(cfg, tmp_path / name, data, in_bins=WIDTHS), cfg, data


def metrics(run_dir) -> list[dict]:
    lines = pathlib.Path(run_dir, "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k not in TIMING_KEYS} for line in lines]


def assert_same_outcome(dir_a, dir_b):
    assert metrics(dir_a) == metrics(dir_b)
    a, b = np.load(pathlib.Path(dir_a, "test_probs.npz")), np.load(pathlib.Path(dir_b, "test_probs.npz"))
    for k in TEST_PROBS_KEYS:
        np.testing.assert_array_equal(a[k], b[k])
    assert json.loads(pathlib.Path(dir_a, "result.json").read_text()) == \
        json.loads(pathlib.Path(dir_b, "result.json").read_text())


# ------------------------------------------------------------------------------------------- config


@pytest.mark.parametrize("kw,field", [({"fold": 12}, "fold"), ({"net": "cqt"}, "net"), ({"split": "random"}, "split"),
                                      ({"split": "filtered", "fold": 3}, "fold"), ({"epochs": 0}, "epochs"),
                                      ({"optimizer": "rmsprop"}, "optimizer"), ({"learning_rate": 0.0}, "learning_rate"),
                                      ({"lr_decay": 0.0}, "lr_decay"), ({"lr_decay": 1.5}, "lr_decay")])
def test_train_config_validation_names_the_field(kw, field):
    with pytest.raises(ValueError, match=f"TrainConfig.{field}="):
        TrainConfig(**{"net": "music", "fold": 0, **kw})


def test_train_config_defaults_and_round_trip():
    cfg = TrainConfig(net="stft", fold=3)
    # Decided on real music (WORKSPACE.md "Defaults on real music"); the paper's settings are one call away.
    assert (cfg.epochs, cfg.batch_size, cfg.learning_rate, cfg.lr_decay, cfg.optimizer, cfg.standardize,
            cfg.stft_transform, cfg.select, cfg.crops, cfg.mixup) == (20, 20, 1e-3, 1.0, "adam", True, "log1p", "last",
                                                                 None, None)
    assert (cfg.crop_mode, cfg.for_run("music", 0).crop_mode, cfg.for_run("early", 0).crop_mode) == ("grid", "random", "grid")
    assert (cfg.mixup_alpha, cfg.for_run("music", 0).mixup_alpha, cfg.for_run("early", 0).mixup_alpha) == (0.0, 0.4, 0.0)
    paper = paper_config("stft", 3)
    assert (paper.epochs, paper.standardize, paper.stft_transform, paper.select, paper.crops, paper.mixup) == (
        40, False, "none", "best_valid", "grid", 0.0)
    assert (cfg.model.stft_bands, paper.model.stft_bands) == (0, 0)
    assert cfg.model.k1 == 256
    d = json.loads(json.dumps(cfg.to_dict()))
    assert TrainConfig.from_dict(d) == cfg


# ------------------------------------------------------------------------------------------ metrics


def test_track_metrics_by_hand():
    probs = [np.array([[0.7, 0.3], [0.4, 0.6]]), np.array([[0.2, 0.8], [0.1, 0.9], [0.6, 0.4]])]
    m = track_metrics(probs, np.array([0, 1]))
    assert m["clip_acc"] == pytest.approx(3 / 5)
    assert m["track_acc"] == 1.0  # track 0: tie 0/1 broken by mean 0.55 vs 0.45 -> 0; track 1: 2 votes for 1
    assert m["loss"] == pytest.approx(-np.mean(np.log([0.7, 0.4, 0.8, 0.9, 0.4])))


# ---------------------------------------------------------------------------------- training runs


def test_training_learns_and_writes_the_run_files(tmp_path):
    data = make_fold_data(("music",), offset=3.0)
    res, cfg, _ = run(tmp_path, data=data, learning_rate=1e-2, epochs=5, standardize=True)
    rows = metrics(res.run_dir)
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4, 5]
    assert rows[-1]["loss"] < rows[0]["loss"]
    # 10 genres (chance 0.1); this toy fold reaches 0.8 on this machine.
    assert res.test_accuracy >= 0.5
    assert sorted(p.name for p in res.run_dir.iterdir()) == \
        ["checkpoints", "config.json", "metrics.jsonl", "result.json", "test_probs.npz"]
    best = max(rows, key=lambda r: (r["valid_track_acc"], r["valid_clip_acc"], -r["valid_loss"], -r["epoch"]))
    assert res.best_epoch == best["epoch"]
    assert res.valid_accuracy == best["valid_track_acc"]
    kept = sorted(int(p.name) for p in res.checkpoint_dir.iterdir())
    assert kept == sorted({4, 5, res.best_epoch})

    z = np.load(res.test_probs_path)
    assert sorted(z.files) == sorted(TEST_PROBS_KEYS)
    n = len(data.ids["test"])
    assert list(z["track_ids"]) == list(data.ids["test"])
    np.testing.assert_array_equal(z["labels"], data.labels["test"])
    assert list(z["genres"]) == list(GENRES)
    assert z["probs"].shape == (n, z["n_clips"].max(), 10) and z["probs"].dtype == np.float32
    assert len(set(z["n_clips"])) > 1  # fake tracks have 4 to 6 clips
    for i in range(n):
        c = z["n_clips"][i]
        assert c == data.test.track_clips(i)["music"].shape[0]
        np.testing.assert_allclose(z["probs"][i, :c].sum(-1), 1.0, rtol=1e-5)  # softmax rows, float32
        assert np.isnan(z["probs"][i, c:]).all()
    votes = np.array([majority_vote(z["probs"][i, : z["n_clips"][i]]) for i in range(n)])
    assert res.test_accuracy == pytest.approx((votes == z["labels"]).mean())
    saved = json.loads((res.run_dir / "result.json").read_text())
    assert saved["test_track_acc"] == res.test_accuracy and saved["best_epoch"] == res.best_epoch


REF_EPOCHS = 8  # the shared uninterrupted reference run; the SIGKILL test needs a few epochs after the first


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted tiny run (REF_EPOCHS epochs) that the determinism and resume tests compare with."""
    cfg = tiny_config(epochs=REF_EPOCHS)
    data = make_fold_data(cfg.kinds)
    res = train_and_evaluate(cfg, tmp_path_factory.mktemp("reference") / "run", data, in_bins=WIDTHS)
    return res, data


def test_same_seed_same_results_and_resume_equals_uninterrupted(tmp_path, reference):
    full, data = reference
    again, _, _ = run(tmp_path, "again", data=data, epochs=REF_EPOCHS)
    assert_same_outcome(full.run_dir, again.run_dir)
    other, _, _ = run(tmp_path, "seed1", data=data, epochs=1, seed=1)
    assert metrics(other.run_dir)[0] != metrics(full.run_dir)[0]
    # Stop after 2 epochs, then ask for all of them in the same directory: resumes at epoch 3.
    run(tmp_path, "resumed", data=data, epochs=2)
    resumed, _, _ = run(tmp_path, "resumed", data=data, epochs=REF_EPOCHS)
    assert_same_outcome(full.run_dir, resumed.run_dir)
    # A finished run started again only re-does the test pass.
    rerun, _, _ = run(tmp_path, "resumed", data=data, epochs=REF_EPOCHS)
    assert rerun.epochs == REF_EPOCHS and [r["epoch"] for r in metrics(rerun.run_dir)] == list(range(1, 9))


def test_learning_rate_decays_per_epoch_and_reaches_the_jitted_step(tmp_path, reference):
    full, data = reference
    decay = rundir.train_config(rundir.read_config(full.run_dir)).lr_decay
    assert [r["lr"] for r in metrics(full.run_dir)] == \
        pytest.approx([1e-3 * decay ** (e - 1) for e in range(1, REF_EPOCHS + 1)], rel=1e-12)
    assert [train.epoch_learning_rate(tiny_config(lr_decay=0.9), e) for e in (1, 2, 3)] == \
        pytest.approx([1e-3, 9e-4, 8.1e-4], rel=1e-12)
    assert train.epoch_learning_rate(tiny_config(lr_decay=1.0), 30) == 1e-3  # 1.0: a constant rate
    # The rate lives in the optimizer state: 0 freezes the weights, a larger rate moves them further.
    from mgc_jax.train.checkpoint import fresh_state

    batch = next(data.train.batches(8, seed=0, epoch=1))
    args = (batch.x, batch.y, np.ones(len(batch.y), np.float32), jax.random.key(0), None)
    moved = {}
    for lr in (0.0, 1e-4, 1e-2):
        model, opt = fresh_state(tiny_config(), WIDTHS)
        before = jax.tree.map(np.array, nnx.state(model, nnx.Param))
        train.set_learning_rate(opt, lr)
        train_step(model, opt, *args)
        after = nnx.state(model, nnx.Param)
        moved[lr] = max(jax.tree.leaves(jax.tree.map(lambda a, b: float(np.abs(np.asarray(b) - a).max()),
                                                     before, after)))
    assert moved[0.0] == 0.0 and 0 < moved[1e-4] < moved[1e-2]


def test_split_step_equals_nnx_jit_step():
    cfg = tiny_config()
    from mgc_jax.train.checkpoint import fresh_state

    data = make_fold_data(cfg.kinds)
    batch = next(data.train.batches(8, seed=0, epoch=1))
    args = (batch.x, batch.y, np.ones(len(batch.y), np.float32), jax.random.key(0), None)
    m1, o1 = fresh_state(cfg, WIDTHS)
    m2, o2 = fresh_state(cfg, WIDTHS)
    graphdef, state = nnx.split((m2, o2))
    for _ in range(2):
        l1, p1 = train_step(m1, o1, *args)
        state, l2, p2 = split_train_step(graphdef, state, *args)
    nnx.update((m2, o2), state)
    assert float(l1) == float(l2)
    np.testing.assert_array_equal(p1, p2)
    assert jax.tree.all(jax.tree.map(lambda a, b: bool((np.asarray(a) == np.asarray(b)).all()),
                                     nnx.state(m1), nnx.state(m2)))


def test_sigkill_mid_run_resumes_to_the_same_result(tmp_path, reference):
    """Start a run in a subprocess, kill -9 it once its first checkpoint exists, start it again."""
    run_dir, epochs = tmp_path / "killed", REF_EPOCHS
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    cmd = [sys.executable, str(REPO / "tests" / "support" / "fake_data.py"), str(run_dir), "--epochs", str(epochs)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not (run_dir / "checkpoints" / "1").is_dir():
            if proc.poll() is not None:
                pytest.fail(f"training subprocess ended early: {proc.stderr.read().decode()[-2000:]}")
            assert time.monotonic() < deadline, "no checkpoint within 120 s"
            time.sleep(0.002)  # an epoch plus its save takes ~0.1 s here: the kill lands in epoch 1-3
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (run_dir / "result.json").exists()  # it really died mid-run
    steps = [int(p.name) for p in (run_dir / "checkpoints").iterdir() if p.name.isdigit()]
    assert 1 <= max(steps) < epochs

    full, data = reference
    resumed = train_and_evaluate(tiny_config(epochs=epochs), run_dir, data, in_bins=WIDTHS)
    assert resumed.epochs == epochs
    assert_same_outcome(resumed.run_dir, full.run_dir)
    assert not list((run_dir / "checkpoints").glob("*orbax-checkpoint-tmp*"))


def test_unfinished_epoch_lines_are_dropped_on_resume(tmp_path):
    res, _, data = run(tmp_path, epochs=2)
    # A kill after writing epoch 3's metrics line but before its checkpoint, mid-way through a 4th line.
    with open(res.metrics_path, "a") as f:
        f.write(json.dumps({"epoch": 3, "loss": -1.0}) + "\n" + '{"epoch": 4, "lo')
    run(tmp_path, data=data, epochs=3)
    rows = metrics(res.run_dir)
    assert [r["epoch"] for r in rows] == [1, 2, 3] and rows[-1]["loss"] > 0


def test_resume_with_a_different_config_names_the_field(tmp_path):
    _, _, data = run(tmp_path, epochs=1)
    with pytest.raises(CheckpointError, match=r"train\.learning_rate: 0\.001 \(saved\) != 0\.01 \(now\)"):
        run(tmp_path, data=data, epochs=2, learning_rate=1e-2)
    with pytest.raises(CheckpointError, match=r"train\.model\.k1"):
        run(tmp_path, data=data, epochs=2, model=tiny_config().model.__class__(k1=4, dense=(16, 12)))


def test_resume_on_maps_of_other_dsp_code_is_refused_naming_it(tmp_path):
    cfg = tiny_config(epochs=1)
    data = make_fold_data(cfg.kinds)
    made_by = {"dsp_code": "0123456789ab", "features_hash": "f00"}
    train_and_evaluate(cfg, tmp_path / "run", data, in_bins=WIDTHS, run_info=made_by)
    before = (tmp_path / "run" / "config.json").read_text()
    with pytest.raises(CheckpointError, match=r"dsp_code: '0123456789ab' \(saved\) != 'ba9876543210' \(now\)\)"
                                              r" \(the dsp code or feature configuration changed since this run's"):
        train_and_evaluate(dataclasses.replace(cfg, epochs=2), tmp_path / "run", data, in_bins=WIDTHS,
                           run_info={**made_by, "dsp_code": "ba9876543210"})
    assert (tmp_path / "run" / "config.json").read_text() == before


# orbax's aborted async reads leave un-awaited coroutines behind; noise, not failures.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning", "ignore::RuntimeWarning")
def test_damaged_checkpoint_stops_the_resume(tmp_path):
    res, _, data = run(tmp_path, epochs=2)
    for f in (res.checkpoint_dir / "2" / "state").rglob("*"):
        if f.is_file() and f.parent.name == "d":
            f.write_bytes(f.read_bytes()[:8])
    with pytest.raises(CheckpointError, match=str(res.checkpoint_dir / "2")):
        run(tmp_path, data=data, epochs=3)


def test_standardizer_fit_on_training_tracks_only():
    data = make_fold_data(("music", "stft"))
    std = Standardizer.fit(data.cache, data.ids["train"], ("music", "stft"))
    for kind in ("music", "stft"):
        frames = np.concatenate([data.cache.load(t, kind) for t in data.ids["train"]]).astype(np.float64)
        # float64 accumulation vs NumPy's pairwise float64 sums, stored as float32
        np.testing.assert_allclose(std.mean[kind], frames.mean(0), rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(std.std[kind], frames.std(0), rtol=1e-5)
        everything = np.concatenate([data.cache.load(t, kind) for v in data.ids.values() for t in v])
        assert not np.allclose(std.mean[kind], everything.mean(0), rtol=1e-4)  # valid/test frames not used
        z = std({kind: frames.astype(np.float32)})[kind]
        np.testing.assert_allclose(z.mean(0), 0.0, atol=1e-4)  # float32 standardisation of ~200 frames
        np.testing.assert_allclose(z.std(0), 1.0, rtol=1e-4)


def run_banded(tmp_path, net: str, bands: int, **overrides):
    """`run` on maps with a 64-bin STFT (room for `bands` mel bands; WIDTHS' 12 bins have too few)."""
    widths = {**WIDTHS, "stft": 64}
    cfg = tiny_config(net=net, model=ModelConfig(k1=8, dense=(16, 12), stft_bands=bands), **overrides)
    data = make_fold_data(cfg.kinds, widths=widths)
    return train_and_evaluate(cfg, tmp_path / "run", data, in_bins=widths), cfg, data


@pytest.mark.parametrize("net,bands", [("early", 0), ("stft", 16)])
def test_load_trained_classifies_like_the_run(tmp_path, net, bands):
    res, cfg, data = run_banded(tmp_path, net, bands, epochs=2, standardize=True)
    trained = load_trained(res.run_dir)
    assert trained.train_cfg == cfg and trained.epoch == res.best_epoch
    assert trained.model.block.bands == bands if net == "stft" else trained.model.branches["stft"].bands == 0
    from mgc_jax.nets.input_transform import TransformedCache

    fitted = Standardizer.fit(TransformedCache(data.cache, cfg.stft_transform), data.ids["train"], cfg.kinds)
    for kind in cfg.kinds:
        np.testing.assert_array_equal(trained.standardizer.mean[kind], fitted.mean[kind])
        np.testing.assert_array_equal(trained.standardizer.std[kind], fitted.std[kind])
    z = np.load(res.test_probs_path)
    raw = copy.copy(data.test)
    raw.transform = None  # clips in cache units, as inference reads them
    for i in range(len(data.ids["test"])):
        p = trained.predict(raw.track_clips(i))  # applies the run's STFT transform and standardisation
        # One ulp apart at most: XLA's CPU thread pool may split the early net's matmuls differently between the
        # training process's test pass and this call (seen under load: 7e-9 on one of 50 values).
        np.testing.assert_allclose(p, z["probs"][i, : z["n_clips"][i]], rtol=1e-6, atol=1e-8)
    with pytest.raises(CheckpointError, match="not a training run directory"):
        load_trained(tmp_path / "nowhere")


def test_valid_split_must_not_be_empty(tmp_path):
    data = make_fold_data(per_genre=(2, 0, 1))
    with pytest.raises(ValueError, match="valid split"):
        run(tmp_path, data=data)
    shutil.rmtree(tmp_path / "run", ignore_errors=True)


# ------------------------------------------------------------------------------------------ launcher


def _launch(*args, cwd=None, timeout=120):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-m", "launch.train", *args], cwd=cwd or REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_launcher_empty_data_dir_gives_one_line(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = _launch("--net=music", f"--data_dir={empty}", f"--workdir={tmp_path / 'ws'}")
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and str(empty) in last
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("args,message", [
    (["--net=music", "--fold=12"], "error: --fold=12: expected 0..9"),
    (["--net=cqt"], "error: --net='cqt': expected one of ['early', 'music', 'stft']"),
])
def test_launcher_bad_flags_give_one_line(tmp_path, args, message):
    proc = _launch(*args, f"--workdir={tmp_path}")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == message
    assert "Traceback" not in proc.stderr
    assert not any(tmp_path.iterdir())  # nothing was made


@pytest.mark.parametrize("args,message", [
    (["--seed=18446744073709551616"], r"^error: --seed=18446744073709551616: must be <= 9223372036854775807$"),
    (["--seed=-1"], r"^error: --seed=-1: must be >= 0$"),
    (["--learning_rate=inf"], r"^error: --learning_rate=inf: must be a finite number > 0$"),
    (["--learning_rate=nan"], r"^error: --learning_rate=nan: must be a finite number > 0$"),
    (["--epochs=2147483648"], r"^error: --epochs=2147483648: must be <= 2147483647$"),
    (["--batch_size=99999999999"], r"^error: --batch_size=99999999999: must be <= 2147483647$"),
    (["--lr_decay=nan"], r"^error: --lr_decay=nan: must be in \(0, 1\]$"),
    (["--k1=99999999999"], r"^error: --k1=99999999999: must be <= 2147483647$"),
    (["--n_folds=100000000000000000000"], r"^error: --n_folds=100000000000000000000: expected an int >= 3 and <= 1000"),
    (["--tracks_per_genre=1000000"], r"^error: --tracks_per_genre=1000000: must be <= 100000"),
])
def test_absurd_flags_are_refused_in_one_line_before_any_directory(tmp_path, capsys, args, message):
    from launchers import run_command

    code, _, err = run_command("train", capsys, "--net=music", *args, f"--workdir={tmp_path / 'w'}")
    assert code == 2 and "Traceback" not in err, err
    assert re.search(message, err.strip().splitlines()[-1]), err
    assert not (tmp_path / "w").exists()


def test_a_batch_larger_than_the_training_set_is_clamped_with_a_warning(tmp_path, caplog):
    cfg = tiny_config(epochs=1)
    data = make_fold_data(cfg.kinds)
    big = dataclasses.replace(cfg, batch_size=10**9)  # padded to 10**9 rows it would ask for terabytes
    with caplog.at_level("WARNING"):
        res = train_and_evaluate(big, tmp_path / "run", data, in_bins=WIDTHS)
    assert f"batch_size=1000000000 is larger than the {data.train.n_clips} training clips" in caplog.text
    assert res.epochs == 1


# ---------------------------------------------------------------- run() on the real data modules


def test_run_wires_workdir_split_and_clip_dataset(tmp_path):
    """train.run with the real Workdir, get_split and ClipDataset over an in-memory cache (no audio)."""
    from fake_data import FakeCache

    from dsp.config import FeatureConfig
    from mgc_jax.data.corpus import Corpus
    from mgc_jax.data.gtzan import GENRES as GTZAN_GENRES
    from mgc_jax.data.track import Track
    from mgc_jax.workdir import Workdir

    tracks = tuple(Track(f"{g}.{i:05d}", g, tmp_path / f"{g}.{i:05d}.wav") for g in GTZAN_GENRES for i in range(10))
    labels = {t.track_id: GTZAN_GENRES.index(t.genre) for t in tracks}
    # 192-256 frames: 2-3 clips of 128 frames per track; real widths (513 STFT bins, 8 music features).
    cache = FakeCache(labels, n_frames=192, widths={"music": 8, "stft": 513}, offset=3.0)
    corpus = Corpus("fakecorpus", tmp_path, tracks, cache, FeatureConfig())
    workdir = Workdir(tmp_path / "ws")
    cfg = tiny_config(fold=3, epochs=2, batch_size=20, eval_batch_size=20)
    res = train.run(cfg, workdir, corpus)
    assert res.run_dir == workdir.run_dir("fakecorpus", "stratified", "music", 3)
    split = get_split(workdir, "fakecorpus", tracks, "stratified", 3)
    z = np.load(res.test_probs_path)
    assert list(z["track_ids"]) == list(split.test)
    assert list(z["genres"]) == list(GTZAN_GENRES)
    np.testing.assert_array_equal(z["labels"], [labels[t] for t in split.test])
    config = json.loads((res.run_dir / "config.json").read_text())
    assert config["corpus"] == "fakecorpus" and config["features"] == FeatureConfig().to_dict()
    import mgc_jax.config

    assert config["dsp_code"] == mgc_jax.config.dsp_code_hash() and config["features_hash"] == FeatureConfig().hash()  # what made the maps
    trained = load_trained(res.run_dir)
    assert trained.feature_cfg == FeatureConfig() and trained.kinds == ("music",)
    np.testing.assert_array_equal(trained.predict(ClipDataset(cache, split.test[:1], [0]).track_clips(0)),
                                  z["probs"][0, : z["n_clips"][0]])


@pytest.mark.slow
def test_launcher_end_to_end_on_a_synthetic_corpus(tmp_path):
    """`python -m launch.train` on a freshly made 10-tracks-per-genre synthetic corpus (audio, extraction,
    split, training, test pass), then the same command again (a finished run: test pass only)."""
    args = ["--net=music", "--fold=3", "--epochs=2", "--k1=16", "--tracks_per_genre=10", f"--workdir={tmp_path}"]
    first = _launch(*args, timeout=1800)
    assert first.returncode == 0, first.stderr[-3000:]
    run_dir = tmp_path / "runs" / "synthetic" / "stratified" / "music" / "fold3"
    assert f"checkpoints:        {run_dir / 'checkpoints'}" in first.stdout
    assert f"metrics:            {run_dir / 'metrics.jsonl'}" in first.stdout
    assert f"test probabilities: {run_dir / 'test_probs.npz'}" in first.stdout
    assert [r["epoch"] for r in metrics(run_dir)] == [1, 2]
    again = _launch(*args, timeout=1800)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.splitlines()[0] == first.stdout.splitlines()[0]  # same best epoch and accuracies
