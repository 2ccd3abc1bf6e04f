"""mgc_jax.train.loop on tiny in-memory folds (tests/support/fake_data.py): learning, run files, determinism, resume
(including a SIGKILL mid-run), the learning rate, training options (transforms, mixup, crops, select), train.run on
labelled corpora, and refusals."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time
import types

import fake_extraction
import jax
import numpy as np
import pytest
from corpus_files import class_folder, write_class_track
from fake_data import GENRES, WIDTHS, make_fold_data, tiny_config
from flax import nnx

import mgc_jax.config
from mgc_jax.data.clips import ClipDataset
from mgc_jax.data.folds import Split, get_split
from mgc_jax.data.gtzan import GENRES as GTZAN_GENRES
from mgc_jax.data.track import Track
from mgc_jax.evaluate import majority_vote
from mgc_jax.serve.inference import load_trained
from mgc_jax.train import loop as train
from mgc_jax.train import rundir
from mgc_jax.train.checkpoint import CheckpointError
from mgc_jax.train.loop import train_and_evaluate
from mgc_jax.train.rundir import TEST_PROBS_KEYS
from mgc_jax.train.steps import train_step
from mgc_jax.workdir import Workdir

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


# ---------------------------------------------------------------------------------- training runs


def test_training_learns_and_writes_the_run_files(tmp_path):
    data = make_fold_data(("music",), offset=3.0)
    res, cfg, _ = run(tmp_path, data=data, learning_rate=1e-2, epochs=5, standardize=True)
    rows = metrics(res.run_dir)
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4, 5]
    assert rows[-1]["loss"] < rows[0]["loss"]
    # 10 genres (chance 0.1); this toy fold reaches 0.8 on this machine.
    assert res.test_accuracy >= 0.5
    # The lock is gone once training returns; the TensorBoard events are tests/test_summaries.py's.
    assert sorted(p.name for p in res.run_dir.iterdir() if not p.name.startswith("events.out.tfevents.")) == \
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


# orbax's aborted async reads leave un-awaited coroutines behind; noise, not failures.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning", "ignore::RuntimeWarning")
def test_damaged_checkpoint_stops_the_resume(tmp_path):
    res, _, data = run(tmp_path, epochs=2)
    for f in (res.checkpoint_dir / "2" / "state").rglob("*"):
        if f.is_file() and f.parent.name == "d":
            f.write_bytes(f.read_bytes()[:8])
    with pytest.raises(CheckpointError, match=str(res.checkpoint_dir / "2")):
        run(tmp_path, data=data, epochs=3)


def test_valid_split_must_not_be_empty(tmp_path):
    data = make_fold_data(per_genre=(2, 0, 1))
    with pytest.raises(ValueError, match="valid split"):
        run(tmp_path, data=data)
    shutil.rmtree(tmp_path / "run", ignore_errors=True)


# ---------------------------------------------------------------- run() on the real data modules


def test_run_wires_workdir_split_and_clip_dataset(tmp_path):
    """train.run with the real Workdir, get_split and ClipDataset over an in-memory cache (no audio)."""
    from fake_data import FakeCache

    from dsp.config import FeatureConfig
    from mgc_jax.data.corpus import Corpus
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
    assert config["dsp_code"] == mgc_jax.config.dsp_code_hash() and config["features_hash"] == FeatureConfig().hash()
    trained = load_trained(res.run_dir)
    assert trained.feature_cfg == FeatureConfig() and trained.kinds == ("music",)
    np.testing.assert_array_equal(trained.predict(ClipDataset(cache, split.test[:1], [0]).track_clips(0)),
                                  z["probs"][0, : z["n_clips"][0]])


def test_train_and_evaluate_refuses_one_class_training_tracks(tmp_path):
    import dataclasses

    import numpy as np
    from fake_data import WIDTHS, make_fold_data, tiny_config

    from mgc_jax.errors import DataError
    from mgc_jax.train.loop import train_and_evaluate

    data = make_fold_data(("music",))
    one = dataclasses.replace(data, labels={**data.labels, "train": np.zeros_like(data.labels["train"])})
    with pytest.raises(DataError, match=rf"training tracks of fold 0 are all of one class \({data.genres[0]}\)"):
        train_and_evaluate(tiny_config(epochs=1), tmp_path / "run", one, in_bins=WIDTHS)
    assert not (tmp_path / "run" / "config.json").exists()


def test_small_classes_need_fewer_folds(tmp_path, monkeypatch):
    fake_extraction.install(monkeypatch, "spectrum")
    from mgc_jax.data.corpus import prepare_corpus
    from mgc_jax.errors import DataError
    from mgc_jax.train import loop as train

    wd = Workdir(tmp_path / "ws")
    corpus = prepare_corpus(str(class_folder(tmp_path)), wd, progress=False)
    with pytest.raises(DataError, match="class 'Acoustic' has 5 tracks: 10 folds need at least 10 per class"):
        train.run(tiny_config(epochs=1, batch_size=8), wd, corpus)
    with pytest.raises(DataError, match="needs a manifest with a split column"):
        train.run(tiny_config(epochs=1, batch_size=8, split="manifest"), wd, corpus)
    assert not (wd.root / "runs").exists()


def test_a_run_does_not_resume_on_other_audio_under_the_same_names(tmp_path, monkeypatch):
    """Two copies of a corpus with the same name and track ids (e.g. two GTZAN folders called gtzan) share run
    directories; the run records its tracks' audio hashes, so it refuses to resume on the other copy's."""
    fake_extraction.install(monkeypatch, "spectrum")
    from mgc_jax.data.corpus import prepare_corpus
    from mgc_jax.train import loop as train
    from mgc_jax.train.checkpoint import CheckpointError

    wd = Workdir(tmp_path / "ws")
    root = class_folder(tmp_path)
    cfg = tiny_config(epochs=1, batch_size=8, n_folds=3)
    first = train.run(cfg, wd, prepare_corpus(str(root), wd, progress=False))
    saved = rundir.read_config(first.run_dir)["audio_sha256"]
    again = train.run(cfg, wd, prepare_corpus(str(root), wd, progress=False))  # same audio: reused as before
    assert again.run_dir == first.run_dir and again.test_accuracy == first.test_accuracy
    write_class_track(root / "Beats" / "beat-1.wav", "Electric", 7)  # same path and id, other audio
    with pytest.raises(CheckpointError, match=f"audio_sha256: '{saved}' \\(saved\\) != '[0-9a-f]{{16}}' \\(now\\).*"
                                              "audio differs"):
        train.run(cfg, wd, prepare_corpus(str(root), wd, progress=False))


class _Cache:
    """Non-negative 'magnitudes' with a genre-specific bin, 130 frames (one 128-frame clip) per track."""

    def __init__(self, genre_of):
        self.genre_of = genre_of

    def load(self, track_id, kind, mmap=True):
        seed = int.from_bytes(hashlib.sha256(f"{track_id}/{kind}".encode()).digest()[:8], "little")
        x = np.abs(np.random.default_rng(seed).standard_normal((130, 12 if kind == "stft" else 8))) * 50.0
        x[:, GTZAN_GENRES.index(self.genre_of[track_id]) % x.shape[1]] += 200.0
        return x.astype(np.float32)


def _corpus_and_split():
    """A 3-tracks-per-genre corpus over _Cache and its split (tracks 0 / 1 / 2 of each genre)."""
    tracks = tuple(Track(f"{g}.{i:05d}", g, "") for g in GTZAN_GENRES for i in range(3))
    corpus = types.SimpleNamespace(tracks=tracks, cache=_Cache({t.track_id: t.genre for t in tracks}),
                                   classes=tuple(GTZAN_GENRES),
                                   labels=lambda ids: np.array([GTZAN_GENRES.index(i.split(".")[0]) for i in ids],
                                                               np.int32))
    pick = lambda i: tuple(f"{g}.{i:05d}" for g in GTZAN_GENRES)  # noqa: E731
    return corpus, Split(pick(0), pick(1), pick(2))


def test_training_fits_the_standardizer_on_transformed_maps_and_inference_applies_both(tmp_path):
    from fake_data import tiny_config

    from mgc_jax.serve.inference import load_trained
    from mgc_jax.train.loop import fold_data, train_and_evaluate
    from mgc_jax.train.rundir import read_test_probs

    corpus, split = _corpus_and_split()
    cfg = tiny_config("stft", epochs=1, standardize=True, stft_transform="log1p")
    data = fold_data(cfg, corpus, split)
    res = train_and_evaluate(cfg, tmp_path / "run", data, in_bins={"stft": 12})

    trained = load_trained(res.run_dir)
    frames = np.concatenate([np.log1p(corpus.cache.load(t, "stft")) for t in split.train]).astype(np.float64)
    np.testing.assert_allclose(trained.standardizer.mean["stft"], frames.mean(0), rtol=1e-5)
    np.testing.assert_allclose(trained.standardizer.std["stft"], frames.std(0), rtol=1e-4)

    raw = np.stack([corpus.cache.load(t, "stft")[:128] for t in split.test])
    tp = read_test_probs(res.test_probs_path)
    np.testing.assert_allclose(trained.predict({"stft": raw}), np.concatenate(tp.probs), rtol=1e-5, atol=1e-7)


def test_select_last_tests_and_serves_the_last_epoch(tmp_path):
    from fake_data import WIDTHS, make_fold_data, tiny_config

    from mgc_jax.config import TrainConfig
    from mgc_jax.serve.inference import load_trained
    from mgc_jax.train.loop import train_and_evaluate

    cfg = tiny_config(epochs=3, select="last", learning_rate=1e-2)
    res = train_and_evaluate(cfg, tmp_path / "run", make_fold_data(cfg.kinds), in_bins=WIDTHS)
    assert res.best_epoch == 3 and load_trained(res.run_dir).epoch == 3
    assert load_trained(res.run_dir, step=2).epoch == 2  # an explicit step still wins
    with pytest.raises(ValueError, match=r"TrainConfig.select='first'"):
        TrainConfig(net="music", fold=0, select="first")


def test_training_with_mixup_and_random_crops(tmp_path):
    from fake_data import tiny_config

    from mgc_jax.config import TrainConfig
    from mgc_jax.train.loop import fold_data, train_and_evaluate

    corpus, split = _corpus_and_split()
    losses = {}
    plain = {"crops": "grid", "mixup": 0.0}
    for name, over in {"plain": plain, "mixup": {**plain, "mixup": 0.4}, "crops": {**plain, "crops": "random"}}.items():
        cfg = tiny_config("music", epochs=2, **over)
        res = train_and_evaluate(cfg, tmp_path / name, fold_data(cfg, corpus, split), in_bins={"music": 8})
        losses[name] = [json.loads(line)["loss"] for line in (res.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert all(np.isfinite(v).all() for v in losses.values())
    assert losses["mixup"] != losses["plain"] and losses["crops"] != losses["plain"]
    with pytest.raises(ValueError, match=r"TrainConfig.crops='jitter'"):
        TrainConfig(net="music", fold=0, crops="jitter")
    with pytest.raises(ValueError, match=r"TrainConfig.mixup=-1"):
        TrainConfig(net="music", fold=0, mixup=-1.0)


@pytest.mark.slow
def test_net_stft_log1p_standardised_trains_and_inference_matches_its_test_pass(gtzan_mini, tmp_path):
    from mgc_jax.config import TrainConfig, feature_widths
    from mgc_jax.serve.inference import load_trained
    from mgc_jax.train.loop import fold_data, train_and_evaluate
    from mgc_jax.train.rundir import read_test_probs

    corpus, _, split = gtzan_mini
    cfg = TrainConfig(net="stft", fold=0, epochs=2, standardize=True, stft_transform="log1p")
    data = fold_data(cfg, corpus, split)
    res = train_and_evaluate(cfg, tmp_path / "run", data, in_bins=feature_widths(corpus.cfg))
    assert 0.0 <= res.test_accuracy <= 1.0 and res.best_epoch in (1, 2) and res.epochs == 2
    tp = read_test_probs(res.test_probs_path)
    assert tp.track_ids == split.test
    assert [p.shape for p in tp.probs] == [(n, 10) for n in data.test.clips_per_track()]
    assert all(1 <= n <= 18 for n in data.test.clips_per_track())
    np.testing.assert_allclose(np.concatenate(tp.probs).sum(1), 1.0, rtol=1e-5)

    # Inference from raw cached maps (transform and standardizer restored from the checkpoint) gives the
    # training run's own test probabilities.
    trained = load_trained(res.run_dir)
    raw = corpus.cache.load(split.test[0], "stft")
    clips = np.stack([raw[s : s + 128] for s in range(0, len(tp.probs[0]) * 64, 64)])
    np.testing.assert_allclose(trained.predict({"stft": clips}), tp.probs[0], rtol=1e-5, atol=1e-6)
    # The standardizer saw log1p maps: their per-bin means are O(1), the raw magnitudes' are not.
    assert np.abs(trained.standardizer.mean["stft"]).max() < 10


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


def test_a_batch_larger_than_the_training_set_is_clamped_with_a_warning(tmp_path, caplog):
    cfg = tiny_config(epochs=1)
    data = make_fold_data(cfg.kinds)
    big = dataclasses.replace(cfg, batch_size=10**9)  # padded to 10**9 rows it would ask for terabytes
    with caplog.at_level("WARNING"):
        res = train_and_evaluate(big, tmp_path / "run", data, in_bins=WIDTHS)
    assert f"batch_size=1000000000 is larger than the {data.train.n_clips} training clips" in caplog.text
    assert res.epochs == 1
