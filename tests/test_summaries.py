"""mgc_jax.train.summaries: a run's TensorBoard events, read back with TensorBoard's own readers: one value per
epoch, resumed runs continue the curves without a duplicate step, the test results and hparams at the end,
--notensorboard writes none; crossval and fuse tables as text summaries."""
from __future__ import annotations

import json
import pathlib
import shutil

import numpy as np
import pytest
from fake_data import WIDTHS, make_fold_data, tiny_config
from tensorboard.backend.event_processing import event_accumulator as ea
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

from mgc_jax.train import rundir, summaries
from mgc_jax.train.loop import train_and_evaluate

SCALARS = ("train/loss", "train/clip_accuracy", "train/track_accuracy", "valid/loss", "valid/clip_accuracy",
           "valid/track_accuracy", "learning_rate", "speed/clips_per_s", "speed/epoch_s")


def accumulator(log_dir) -> ea.EventAccumulator:
    acc = ea.EventAccumulator(str(log_dir), size_guidance={ea.SCALARS: 0, ea.IMAGES: 0, ea.TENSORS: 0})
    acc.Reload()
    return acc


def raw_steps(log_dir) -> dict[str, list[int]]:
    """{tag: steps} over every event in every event file, in file order: what a reader that purges nothing
    sees (a step written twice shows twice)."""
    out: dict[str, list[int]] = {}
    for path in sorted(pathlib.Path(log_dir).glob("events.out.tfevents.*")):
        for event in EventFileLoader(str(path)).Load():
            for value in event.summary.value:
                out.setdefault(value.tag, []).append(event.step)
    return out


def train(run_dir, epochs, **kw):
    cfg = tiny_config(epochs=epochs)
    return train_and_evaluate(cfg, run_dir, make_fold_data(cfg.kinds), in_bins=WIDTHS, **kw)


@pytest.fixture(scope="module")
def two_epochs(tmp_path_factory):
    """A tiny run of 2 epochs (read-only: tests that change it copy it)."""
    run_dir = tmp_path_factory.mktemp("summaries") / "run"
    return run_dir, train(run_dir, 2)


def test_a_run_has_one_value_per_epoch_of_every_curve_and_the_test_results(two_epochs):
    run_dir, result = two_epochs
    acc = accumulator(run_dir)
    records = rundir.read_metrics(run_dir)
    for tag in SCALARS:
        assert [e.step for e in acc.Scalars(tag)] == [1, 2], tag
    key = {v: k for k, v in summaries.EPOCH_TAGS.items()}
    for tag in SCALARS:  # the numbers of metrics.jsonl (float32 in the event files)
        np.testing.assert_allclose([e.value for e in acc.Scalars(tag)], [r[key[tag]] for r in records], rtol=1e-6)
    assert [(e.step, e.value) for e in acc.Scalars("test/track_accuracy")] == [
        (2, pytest.approx(result.test_accuracy))]
    assert [e.value for e in acc.Scalars("test/clip_accuracy")] == [pytest.approx(result.test_clip_accuracy)]
    assert [e.value for e in acc.Scalars("best_epoch")] == [result.best_epoch]
    images = acc.Tags()["images"]
    assert "test/confusion" in images
    maps = [t for t in images if t.startswith("features/")]
    assert maps == [f"features/genre{g}.test0/music" for g in range(summaries.N_FEATURE_TRACKS)]
    img = acc.Images("test/confusion")[0]
    assert img.step == 2 and img.width > 100 and img.height > 100
    assert all(len(v) == len(set(v)) for v in raw_steps(run_dir).values())


def test_the_hparams_are_the_run_config(two_epochs):
    from tensorboard.plugins.hparams import plugin_data_pb2

    run_dir, _ = two_epochs
    acc = accumulator(run_dir)
    content = acc.PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    hp = {k: v.ListFields()[0][1] for k, v in start.session_start_info.hparams.items()}
    cfg = tiny_config(epochs=2)
    assert hp["net"] == "music" and hp["epochs"] == 2 and hp["model.k1"] == cfg.model.k1
    assert hp["learning_rate"] == pytest.approx(cfg.learning_rate) and hp["model.dense"] == "[16, 12]"
    experiment = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"]).experiment
    assert {m.name.tag for m in experiment.metric_infos} == set(summaries.HPARAMS_METRICS)


def test_a_resumed_third_epoch_adds_step_3_and_no_duplicate(two_epochs, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(two_epochs[0], run_dir)
    train(run_dir, 3)
    acc = accumulator(run_dir)
    for tag in SCALARS:
        assert [e.step for e in acc.Scalars(tag)] == [1, 2, 3], tag
    assert [e.step for e in acc.Scalars("test/track_accuracy")] == [2, 3]  # each end of training
    raw = raw_steps(run_dir)
    assert raw["train/loss"] == [1, 2, 3] and raw["_hparams_/experiment"] == [0]  # hparams once
    assert all(len(v) == len(set(v)) for v in raw.values()), raw
    train(run_dir, 3)  # a finished run again: test tracks re-classified, nothing new in the events
    assert raw_steps(run_dir) == raw


def test_an_epoch_trained_again_after_a_kill_is_not_logged_twice(two_epochs, tmp_path):
    # A kill between epoch 2's metrics line (and its events) and its checkpoint: resuming trains epoch 2 again.
    run_dir = tmp_path / "run"
    shutil.copytree(two_epochs[0], run_dir)
    shutil.rmtree(run_dir / rundir.CHECKPOINTS / "2")
    (run_dir / rundir.TEST_PROBS).unlink()
    before = raw_steps(run_dir)
    train(run_dir, 2)
    assert raw_steps(run_dir) == before


def test_epochs_a_kill_kept_out_of_the_events_are_written_on_resume(two_epochs, tmp_path):
    # tensorboardX buffers: a SIGKILL can lose events that metrics.jsonl has. Resuming writes them from it.
    run_dir = tmp_path / "run"
    shutil.copytree(two_epochs[0], run_dir)
    for path in run_dir.glob("events.out.tfevents.*"):
        path.unlink()
    train(run_dir, 3)
    acc = accumulator(run_dir)
    assert [e.step for e in acc.Scalars("valid/track_accuracy")] == [1, 2, 3]
    assert [e.value for e in acc.Scalars("valid/track_accuracy")][:2] == pytest.approx(
        [r["valid_track_acc"] for r in rundir.read_metrics(run_dir)[:2]])


def test_notensorboard_writes_no_event_file(tmp_path):
    train(tmp_path / "run", 1, tensorboard=False)
    assert (tmp_path / "run" / rundir.RESULT).is_file()
    assert not list((tmp_path / "run").glob("events.out.tfevents.*"))


def test_a_cut_event_file_is_read_up_to_the_cut(tmp_path):
    with summaries.EventWriter(tmp_path) as w:
        for step in range(1, 4):
            w.scalar("a", step, step)
    path = next(tmp_path.glob("events.out.tfevents.*"))
    path.write_bytes(path.read_bytes()[:-7])  # the last record cut by a kill
    assert summaries.logged_steps(tmp_path) == {"a": 2}
    with summaries.EventWriter(tmp_path) as w:
        w.scalar("a", 3, 3)
        w.scalar("a", 2, 2)  # already there: dropped
    assert [e.step for e in accumulator(tmp_path).Scalars("a")] == [1, 2, 3]


def test_tables_are_text_summaries_one_step_per_call(tmp_path):
    summaries.write_tables(tmp_path, {"crossval/table2": "| a |\n|---|\n| 1 |"})
    summaries.write_tables(tmp_path, {"crossval/table2": "| a |\n|---|\n| 2 |"})
    summaries.write_tables(tmp_path, {"crossval/table2": "x"}, enabled=False)
    events = accumulator(tmp_path).Tensors("crossval/table2/text_summary")
    assert [e.step for e in events] == [0, 1]
    assert events[1].tensor_proto.string_val[0].decode() == "| a |\n|---|\n| 2 |"


def test_map_image_puts_low_rows_at_the_bottom_and_music_maps_are_visible():
    m = np.zeros((128, 8), np.float32)
    m[:, 0] = 1.0  # feature 0 high
    img = summaries.map_image(m)
    assert img.shape == (64, 128) and img.min() == 0.0 and img.max() == 1.0
    assert (img[-8:] == 1.0).all() and (img[:-8] == 0.0).all()  # 8 rows per feature, feature 0 at the bottom


def test_launch_crossval_and_fuse_write_their_tables_as_text(tmp_path, capsys):
    """crossval.run (every run finished: nothing to train) and launch.fuse each add a step of their tables."""
    from fake_runs import write_fake_runs
    from launchers import run_command

    from mgc_jax.config import TrainConfig
    from mgc_jax.eval import crossval
    from mgc_jax.evaluate import Bootstrap
    from mgc_jax.workdir import Workdir

    wd = Workdir(tmp_path)
    cfg = TrainConfig(net="stft", fold=0, epochs=3)
    write_fake_runs(wd, "gtzan", "stratified", ("stft", "music"), (0, 1),
                    train_cfg=lambda net, fold: cfg.for_run(net, fold).to_dict())
    out = crossval.run(cfg, wd, crossval.LazyCorpus("gtzan", lambda: pytest.fail("prepared")), nets=("stft", "music"),
                       folds=(0, 1), boot=Bootstrap(n_boot=50))
    results = wd.results_dir("gtzan", "stratified")
    code, _, err = run_command("fuse", capsys, "--folds=0-1", "--nobaseline", "--n_boot=50",
                               f"--data_dir={tmp_path / 'gtzan'}", f"--workdir={tmp_path}")
    assert code == 0, err
    acc = accumulator(results)
    table2 = acc.Tensors("crossval/table2/text_summary")
    assert [e.step for e in table2] == [0]
    assert table2[0].tensor_proto.string_val[0].decode() == out.written["table2.md"].read_text()
    assert [e.step for e in acc.Tensors("crossval/table1/text_summary")] == [0]
    fuse = acc.Tensors("fuse/table/text_summary")
    assert [e.step for e in fuse] == [0] and "| FUSION2 |" in fuse[0].tensor_proto.string_val[0].decode()
    code, _, err = run_command("fuse", capsys, "--folds=0-1", "--nobaseline", "--n_boot=50", "--notensorboard",
                               f"--data_dir={tmp_path / 'gtzan'}", f"--workdir={tmp_path}")
    assert code == 0, err
    assert [e.step for e in accumulator(results).Tensors("fuse/table/text_summary")] == [0]
    assert json.loads((results / "results.json").read_text())["folds"] == [0, 1]


@pytest.mark.slow
def test_launch_train_two_epochs_then_a_third(tmp_path, monkeypatch, capsys):
    """The issue's check through the command: --epochs=2, then --epochs=3 resumes the same curves."""
    from fake_data import fake_corpus
    from launchers import run_command

    import mgc_jax.data.corpus

    corpus = fake_corpus(tmp_path)
    monkeypatch.setattr(mgc_jax.data.corpus, "prepare_corpus", lambda *a, **k: corpus)
    args = ("--net=music", "--fold=0", "--k1=8", "--batch_size=20", f"--workdir={tmp_path / 'w'}")
    code, out, err = run_command("train", capsys, *args, "--epochs=2")
    assert code == 0, err
    run_dir = tmp_path / "w" / "runs" / "fakecorpus" / "stratified" / "music" / "fold0"
    assert f"tensorboard:        tensorboard --logdir={run_dir}" in out
    assert [e.step for e in accumulator(run_dir).Scalars("train/loss")] == [1, 2]
    code, out, err = run_command("train", capsys, *args, "--epochs=3")
    assert code == 0, err
    acc = accumulator(run_dir)
    assert [e.step for e in acc.Scalars("train/loss")] == [1, 2, 3]
    assert [e.step for e in acc.Scalars("valid/track_accuracy")] == [1, 2, 3]
    assert all(len(v) == len(set(v)) for v in raw_steps(run_dir).values())
