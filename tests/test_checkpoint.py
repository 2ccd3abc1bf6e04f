"""mgc_jax.train.checkpoint: exact round trips, retention (last two + best), config checks, interrupted saves and
damaged checkpoints."""
from __future__ import annotations

import os
import pathlib
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from damaged_files import CHECKPOINT_DAMAGE, drop, each, edit_config
from fake_data import WIDTHS, tiny_config
from flax import nnx

from mgc_jax.config import ModelConfig
from mgc_jax.nets.models import build_model
from mgc_jax.train.checkpoint import CheckpointError, RunCheckpoints, tree_digest
from mgc_jax.train.rundir import config_diff, describe_diff

CONFIG = {"train": {"net": "music", "epochs": 3, "model": {"k1": 8}}, "corpus": "fake"}


def score(m):
    return (m["acc"], -m["step"])


def small_tree(seed: int = 0) -> dict:
    k = jax.random.key(seed)
    return {"w": jax.random.normal(k, (4, 3)), "b": {"x": jnp.arange(5, dtype=jnp.int32)}, "epoch": jnp.int32(seed)}


def abstract(tree):
    return jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), tree)


def trained_model_and_optimizer():
    """A small net after two Adam steps (non-trivial optimizer state)."""
    model = build_model("music", ModelConfig(k1=8, dense=(12,)), rngs=nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, optax.adam(1e-2), wrt=nnx.Param)
    x = jnp.asarray(np.random.default_rng(0).random((6, 16, 8), np.float32))
    y = jnp.arange(6) % 10


    @nnx.jit
    def step(model, optimizer, key):
        grads = nnx.grad(lambda m: optax.softmax_cross_entropy_with_integer_labels(m(x, rngs=key), y).mean())(model)
        optimizer.update(model, grads)

    for i in range(2):
        step(model, optimizer, jax.random.key(i))
    return model, optimizer, x


def test_model_round_trip_gives_bit_identical_predictions(tmp_path):
    model, optimizer, x = trained_model_and_optimizer()
    model.eval()
    before = np.asarray(model(x))
    state = {"model": nnx.to_pure_dict(nnx.state(model, nnx.Param)), "optimizer": nnx.to_pure_dict(nnx.state(optimizer))}
    with RunCheckpoints(tmp_path / "ck", config=CONFIG, score=score) as ck:
        ck.save(1, state, metrics={"acc": 0.5, "step": 1})
    # A fresh process would do exactly this: abstract model from nnx.eval_shape, restore, merge.
    make = lambda: build_model("music", ModelConfig(k1=8, dense=(12,)), rngs=nnx.Rngs(42))  # noqa: E731
    abs_model = nnx.eval_shape(make)
    abs_opt = nnx.eval_shape(lambda: nnx.Optimizer(make(), optax.adam(1e-2), wrt=nnx.Param))
    target = {"model": nnx.to_pure_dict(nnx.state(abs_model, nnx.Param)), "optimizer": nnx.to_pure_dict(nnx.state(abs_opt))}
    with RunCheckpoints(tmp_path / "ck", config=CONFIG, score=score) as ck:
        restored = ck.restore(1, target)
    graphdef, params = nnx.split(abs_model)
    nnx.replace_by_pure_dict(params, restored["model"])
    model2 = nnx.merge(graphdef, params)
    model2.eval()
    np.testing.assert_array_equal(np.asarray(model2(x)), before)
    assert tree_digest(jax.device_get(restored)) == tree_digest(jax.device_get(state))


def test_keeps_last_two_and_best(tmp_path):
    accs = [0.2, 0.9, 0.5, 0.9, 0.4, 0.3]  # best is step 2 (tie with 4 broken towards the earlier)
    with RunCheckpoints(tmp_path, config=CONFIG, score=score, keep_last=2) as ck:
        for step, acc in enumerate(accs, start=1):
            ck.save(step, small_tree(step), metrics={"acc": acc, "step": step})
        assert ck.steps() == [2, 5, 6]
        assert ck.latest_step() == 6
        assert ck.best_step() == 2
        np.testing.assert_array_equal(ck.restore(2, abstract(small_tree()))["w"], small_tree(2)["w"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2", "5", "6"]


def test_restore_under_a_different_config_names_the_field(tmp_path):
    with RunCheckpoints(tmp_path, config=CONFIG, score=score) as ck:
        ck.save(1, small_tree(), metrics={"acc": 0.1, "step": 1})
    other = {**CONFIG, "train": {**CONFIG["train"], "model": {"k1": 16}}}
    with RunCheckpoints(tmp_path, config=other, score=score) as ck:
        with pytest.raises(CheckpointError, match=r"train\.model\.k1: 8 \(saved\) != 16 \(now\)"):
            ck.restore(1, abstract(small_tree()))
    longer = {**CONFIG, "train": {**CONFIG["train"], "epochs": 9}}
    with RunCheckpoints(tmp_path, config=longer, score=score, ignore_fields=("train.epochs",)) as ck:
        ck.restore(1, abstract(small_tree()))  # an allowed difference


def test_interrupted_save_is_ignored_and_cleaned(tmp_path):
    with RunCheckpoints(tmp_path, config=CONFIG, score=score) as ck:
        ck.save(1, small_tree(1), metrics={"acc": 0.1, "step": 1})
    # What a process killed during `save(2)` leaves: orbax's tmp directory, never renamed to "2".
    tmp = tmp_path / "2.orbax-checkpoint-tmp-1234567890"
    shutil.copytree(tmp_path / "1", tmp)
    (tmp / "commit_success.txt").unlink(missing_ok=True)
    with RunCheckpoints(tmp_path, config=CONFIG, score=score) as ck:
        assert ck.latest_step() == 1
        assert ck.steps() == [1]
        # The resumed run saves step 2 again; orbax removes the stale tmp dir (asynchronously, before saving).
        ck.save(2, small_tree(2), metrics={"acc": 0.2, "step": 2})
        assert ck.steps() == [1, 2]
        np.testing.assert_array_equal(ck.restore(2, abstract(small_tree()))["w"], small_tree(2)["w"])
    assert not tmp.exists()


def _damage(step_dir: pathlib.Path, how: str) -> None:
    data = sorted(p for p in (step_dir / "state").rglob("*") if p.is_file() and p.parent.name == "d")
    assert data, "expected orbax data files"
    if how == "flip":  # same size, different bytes: only the digest can tell
        for f in data:
            b = bytearray(f.read_bytes())
            b[len(b) // 2] ^= 0xFF
            f.write_bytes(bytes(b))
    elif how == "truncate":
        for f in data:
            f.write_bytes(f.read_bytes()[:10])
    elif how == "delete":
        shutil.rmtree(step_dir / "state")


# orbax's aborted async reads leave un-awaited coroutines behind; they are noise here, not failures.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning", "ignore::RuntimeWarning")
@pytest.mark.parametrize("how", ["flip", "truncate", "delete"])
def test_damaged_checkpoint_is_reported(tmp_path, how):
    with RunCheckpoints(tmp_path, config=CONFIG, score=score) as ck:
        ck.save(1, small_tree(1), metrics={"acc": 0.1, "step": 1})
    _damage(tmp_path / "1", how)
    with RunCheckpoints(tmp_path, config=CONFIG, score=score) as ck:
        with pytest.raises(CheckpointError, match=str(tmp_path / "1")):
            ck.restore(1, abstract(small_tree()))


def test_digest_detects_a_single_changed_value():
    a = small_tree(3)
    b = jax.tree.map(lambda v: v, a)
    b["w"] = b["w"].at[0, 0].add(1e-6)
    assert tree_digest(jax.device_get(a)) != tree_digest(jax.device_get(b))
    assert tree_digest(jax.device_get(a)) == tree_digest(jax.device_get(small_tree(3)))


def test_config_diff():
    saved = {"train": {"net": "music", "model": {"dense": [300, 150]}}, "corpus": "a"}
    now = {"train": {"net": "stft", "model": {"dense": (300, 150)}}, "extra": 1}
    diff = config_diff(saved, now)
    assert diff == [("corpus", "a", "<absent>"), ("extra", "<absent>", 1), ("train.net", "music", "stft")]
    assert "train.net: 'music' (saved) != 'stft' (now)" in describe_diff(diff)
    assert config_diff(saved, now, ignore=("corpus", "extra", "train.net")) == []


def test_unopenable_directory_is_reported(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(CheckpointError, match="cannot open checkpoint directory"):
        RunCheckpoints(blocker / "ck", config=CONFIG, score=score)
    assert os.path.isfile(blocker)


# ----------------------------------------------------------- a damaged run directory, on every path that opens it


def _load_trained(run_dir, data):
    from mgc_jax.serve.inference import load_trained

    return load_trained(run_dir)


def _resume(run_dir, data):
    from mgc_jax.train.loop import train_and_evaluate

    return train_and_evaluate(tiny_config(epochs=3), run_dir, data, in_bins=WIDTHS)


def _from_checkpoint(run_dir, data):
    from mgc_jax.serve.inference import Classifier

    return Classifier.from_checkpoint(run_dir)


PATHS = {"load_trained": _load_trained, "resume": _resume, "from_checkpoint": _from_checkpoint}


# orbax's aborted async reads leave un-awaited coroutines behind; they are noise here, not failures.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning", "ignore::RuntimeWarning")
@pytest.mark.parametrize("path", list(PATHS))
@pytest.mark.parametrize("damage", list(CHECKPOINT_DAMAGE))
def test_a_damaged_checkpoint_is_refused_naming_the_directory(damaged_copy, damage, path):
    how, message = CHECKPOINT_DAMAGE[damage]
    run_dir, data = damaged_copy(how)
    with pytest.raises(CheckpointError, match=f"^{run_dir}/{message}"):
        PATHS[path](run_dir, data)


@pytest.mark.parametrize("path", list(PATHS))
def test_a_missing_commit_marker_is_harmless(damaged_copy, path):
    """commit_success.txt only marks completion for object stores; the saved digest vouches for the content."""
    run_dir, data = damaged_copy(lambda d: each("commit_success.txt")(d, pathlib.Path.unlink))
    PATHS[path](run_dir, data)


@pytest.mark.parametrize("path", ["load_trained", "from_checkpoint"])
@pytest.mark.parametrize("damage", [
    pytest.param(drop("in_bins"), id="no in_bins"),
    pytest.param(edit_config(lambda c: {**c, "features": {"bogus": 1}}), id="bad features"),
    pytest.param(lambda d: (d / "config.json").write_bytes(b"\xff\xfe garbage"), id="binary"),
    pytest.param(lambda d: (d / "config.json").write_text("[1, 2]"), id="list"),
    pytest.param(lambda d: (d / "config.json").unlink(), id="missing"),
])
def test_a_damaged_run_config_is_refused_naming_the_run(damaged_copy, damage, path):
    run_dir, data = damaged_copy(damage)
    with pytest.raises(CheckpointError, match=f"^{run_dir}"):
        PATHS[path](run_dir, data)


@pytest.mark.parametrize("damage", [
    pytest.param(lambda d: (d / "config.json").write_bytes(b"\xff\xfe garbage"), id="binary"),
    pytest.param(lambda d: (d / "config.json").write_text("[1, 2]"), id="list"),
])
def test_resume_refuses_a_damaged_run_config(damaged_copy, damage):
    run_dir, data = damaged_copy(damage)
    with pytest.raises(CheckpointError, match=f"^{run_dir}/config.json: damaged run config"):
        _resume(run_dir, data)


@pytest.mark.parametrize("path", ["load_trained", "from_checkpoint"])
def test_a_deleted_best_checkpoint_is_an_error_not_a_silent_switch_to_another_epoch(damaged_copy, path):
    from mgc_jax.serve.inference import load_trained
    from mgc_jax.train import rundir

    run_dir, data = damaged_copy(lambda d: None)
    best = rundir.read_result(run_dir)["best_epoch"]
    shutil.rmtree(run_dir / "checkpoints" / str(best))
    other = 3 - best  # the 2-epoch run keeps epochs 1 and 2
    with pytest.raises(CheckpointError, match=rf"^{run_dir}/checkpoints: the checkpoint of the best epoch {best} "
                                              rf"\(result.json\) is missing \(kept: {other}\); restore it, or run "
                                              "launch.train again"):
        PATHS[path](run_dir, data)
    assert load_trained(run_dir, step=other).epoch == other  # the explicit way to use a kept epoch
    with pytest.raises(CheckpointError, match=rf"no checkpoint of epoch {best} \(kept: {other}\)"):
        load_trained(run_dir, step=best)
