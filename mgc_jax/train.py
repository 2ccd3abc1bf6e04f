"""Training of net_STFT, net_MUSIC or the early-fusion net on one fold: resumable, deterministic, logged.

`run(cfg, workdir, corpus)` trains on the fold's training tracks, picks the epoch with the best
validation track accuracy, classifies the test tracks with it and writes, in
`workdir.run_dir(corpus, split, net, fold)`:

    config.json      TrainConfig + FeatureConfig + corpus and split identity (resuming checks it)
    metrics.jsonl    one JSON line per finished epoch (the same numbers as the log line)
    checkpoints/     orbax checkpoints <epoch>/: the last `keep_last` epochs plus the best one
    test_probs.npz   clip probabilities of the test tracks (keys: TEST_PROBS_KEYS)
    result.json      best epoch, validation and test accuracies

Every epoch is checkpointed with the model, optimizer state, epoch number, RNG key and the standardizer.
Batch order is a pure function of (seed, epoch) and dropout keys come from the checkpointed RNG, so a run
killed at any moment and started again resumes from its last finished epoch and ends with bit-identical
results. Training accuracies are measured on the fly from the training forward passes (dropout on,
weights moving during the epoch), as Keras reports them; validation and test use the eval-mode model.

Devices and processes (data parallelism, `mgc_jax.sharding`). Every step runs over `sharding.data_mesh()`,
all devices of all processes: the batch is split over the "data" axis, parameters, optimizer state and the
dropout key are replicated, and the compiler inserts the gradient all-reduce: the maths is the global
batch's. One device is the one-device case of the same code.
- `batch_size` is global: real clips per optimizer step over all devices, as in the paper (20), whatever the
  device count. When it is not a multiple of the device count, every step's batch is padded up to the next
  multiple with zero-weight clips (20 on 8 devices: 24 rows, 3 per device), exactly as the last, short batch
  of an epoch always is. That changes nothing but the work done: the loss is the weighted mean over the real
  clips, the nets have no batch statistics, and a real clip draws the same dropout mask at row i of a taller
  batch (threefry bits depend on the element's position, trailing dimensions being equal). Choose a multiple
  of the device count to waste no compute. `eval_batch_size` (memory only) is rounded up the same way.
- Several processes (`mgc_jax.distributed`): each builds the same global batch (order from (seed, epoch)) and
  hands its devices only its own rows (`sharding.shard_rows`, `jax.make_array_from_process_local_data`);
  metrics come back replicated, so every process computes the same numbers. Process 0 alone writes
  config.json, metrics.jsonl, test_probs.npz and result.json; orbax coordinates the checkpoints.
- Results are bit-identical across runs and resumes on the same device count (one process with 2 devices and
  2 processes with one each gave the same bits). Another device count adds the gradient in another order: the
  first steps agree to float rounding (~1e-7 relative, tests/test_sharding.py), but training on raw-unit maps
  amplifies rounding (Adam's first step turns +-1e-9 gradient noise into learning-rate-sized updates). On
  net_MUSIC and the synthetic corpus, parameters differ by ~10 % after 40 steps. Reversing the rows of every
  batch on one device does the same, so a run on another device count is an equally valid run, not the same
  bits. Resume on the device count a run started with.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import pathlib
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import logging
from flax import nnx

from dsp.config import FEATURE_NAMES, FeatureConfig
from mgc_jax import distributed, sharding
from mgc_jax.checkpoint import CheckpointError, RunCheckpoints, config_diff, describe_diff
from mgc_jax.clips import ClipDataset
from mgc_jax.datasets.folds import get_split
from mgc_jax.datasets.gtzan import GENRES
from mgc_jax.evaluate import majority_vote
from mgc_jax.models import NET_KINDS, ModelConfig, apply_model, build_model, count_params
from mgc_jax.standardize import Standardizer, apply_stats

SPLITS = ("stratified", "filtered", "artist")
N_FOLDS = 10
OPTIMIZERS = ("adam", "sgd")
TEST_PROBS_KEYS = ("track_ids", "labels", "probs", "n_clips", "genres")
# Config fields that may change when a run is resumed: training longer (or up to a later epoch) keeps every
# finished epoch valid because batch order and dropout keys depend only on (seed, epoch).
RESUMABLE_FIELDS = ("train.epochs",)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """One training run (FEATURES_SPEC §3.3 defaults: 40 epochs, batch 20, Adam 1e-3)."""

    net: str  # "stft" | "music" | "early"
    fold: int  # 0..9 (must be 0 for split="filtered")
    split: str = "stratified"  # "stratified" | "filtered" | "artist"
    epochs: int = 40
    batch_size: int = 20  # clips per training step over all devices (paper: 20; see "Devices" above)
    learning_rate: float = 1e-3  # of epoch 1; epoch e trains at learning_rate * lr_decay ** (e - 1)
    lr_decay: float = 0.9  # per-epoch factor (1.0 = constant; the paper names no schedule; see `epoch_learning_rate`)
    optimizer: str = "adam"  # "adam" (beta 0.9/0.999, eps 1e-8: Keras' defaults of 2017) | "sgd" (momentum below)
    momentum: float = 0.9  # SGD momentum (unused by Adam)
    seed: int = 0  # model init, batch order and dropout
    standardize: bool = False  # per-feature mean/std of the training fold (paper: raw units)
    model: ModelConfig = ModelConfig()
    eval_batch_size: int = 100  # clips per validation/test forward pass (memory only; rounded up to the devices)
    keep_last: int = 2  # latest checkpoints kept besides the best

    def __post_init__(self):
        if isinstance(self.model, Mapping):
            object.__setattr__(self, "model", ModelConfig.from_dict(self.model))
        checks = [
            ("net", self.net in NET_KINDS, f"expected one of {sorted(NET_KINDS)}"),
            ("split", self.split in SPLITS, f"expected one of {SPLITS}"),
            ("fold", isinstance(self.fold, int) and 0 <= self.fold < N_FOLDS, f"expected 0..{N_FOLDS - 1}"),
            ("fold", self.split != "filtered" or self.fold == 0, "the filtered split has a single fold: use 0"),
            ("epochs", self.epochs >= 1, "must be >= 1"),
            ("batch_size", self.batch_size >= 1, "must be >= 1"),
            ("learning_rate", self.learning_rate > 0, "must be > 0"),
            ("lr_decay", 0 < self.lr_decay <= 1, "must be in (0, 1]"),
            ("optimizer", self.optimizer in OPTIMIZERS, f"expected one of {OPTIMIZERS}"),
            ("eval_batch_size", self.eval_batch_size >= 1, "must be >= 1"),
            ("keep_last", self.keep_last >= 1, "must be >= 1"),
        ]
        for name, ok, why in checks:
            if not ok:
                raise ValueError(f"TrainConfig.{name}={getattr(self, name)!r}: {why}")

    @property
    def kinds(self) -> tuple[str, ...]:
        return NET_KINDS[self.net]

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["model"] = self.model.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: Mapping) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown TrainConfig fields {unknown}")
        return cls(**d)


class RunResult(NamedTuple):
    run_dir: pathlib.Path
    test_accuracy: float  # test-track accuracy, majority vote over clips (tie: largest mean probability)
    test_clip_accuracy: float
    best_epoch: int
    valid_accuracy: float  # validation-track accuracy of the best epoch
    epochs: int  # epochs trained in total (this call and earlier ones)
    checkpoint_dir: pathlib.Path
    metrics_path: pathlib.Path
    test_probs_path: pathlib.Path


@dataclasses.dataclass(frozen=True)
class FoldData:
    """The three clip datasets of a fold plus what is needed beside them.

    train/valid/test: `mgc_jax.clips.ClipDataset`-like objects (`n_clips`, `n_tracks`,
      `batches(batch_size, *, seed, epoch, shuffle)`, `track_clips(i)`), built on `kinds`.
    ids, labels: per split name, the track ids (tuple of str) and genre indices (int32 [n_tracks]) in the
      datasets' track order.
    cache: `.load(track_id, kind) -> float32 [T, F]` (for fitting the standardizer).
    genres: class names, label index = position.
    """

    train: Any
    valid: Any
    test: Any
    ids: Mapping[str, tuple[str, ...]]
    labels: Mapping[str, np.ndarray]
    cache: Any
    genres: tuple[str, ...]


# ----------------------------------------------------------------------------------------------- steps


def make_optimizer(cfg: TrainConfig) -> optax.GradientTransformation:
    """Adam or SGD with the learning rate as optimizer state (set per epoch by `set_learning_rate`)."""
    if cfg.optimizer == "adam":
        return optax.inject_hyperparams(optax.adam)(learning_rate=cfg.learning_rate, b1=0.9, b2=0.999, eps=1e-8)
    return optax.inject_hyperparams(optax.sgd)(learning_rate=cfg.learning_rate, momentum=cfg.momentum)


def epoch_learning_rate(cfg: TrainConfig, epoch: int) -> float:
    """Learning rate of 1-based `epoch`: cfg.learning_rate * cfg.lr_decay ** (epoch - 1).

    Why a decay: on raw-unit music maps (roughness ~1e2-1e5, zcr ~1e2-5e3 beside features in [0, 1]) one
    Adam step of 1e-3 on a roughness weight moves a conv1 output by 1e-3 x the roughness (0.1 to 100), so with
    a constant rate net_MUSIC's validation accuracy never settled (synthetic fold 3, 40 tracks per genre: track
    accuracy 0.83-1.00 over epochs 4-40, drops of up to 12.5 points from one epoch to the next). A per-epoch
    geometric decay lets the late epochs settle (same fold: 1.00 over the last 20 epochs). It depends on the
    epoch alone, not on the total, so raising --epochs on a finished run continues it exactly as an
    uninterrupted longer run would have.
    """
    return float(cfg.learning_rate * cfg.lr_decay ** (epoch - 1))


def set_learning_rate(optimizer: nnx.Optimizer, lr: float) -> None:
    """Write the learning rate into the optimizer state (float32: the jitted step's signature does not change)."""
    optimizer.opt_state.hyperparams["learning_rate"][...] = jnp.asarray(lr, jnp.float32)


def loss_fn(model: nnx.Module, x: Mapping[str, jax.Array], y: jax.Array, w: jax.Array, key: jax.Array):
    """Weighted mean categorical cross-entropy over the batch.

    x: kind -> float32 [B, T, F]; y: int32 [B]; w: float32 [B] (1 for real clips, 0 for padding).
    Returns (loss [], logits [B, C]).
    """
    logits = apply_model(model, x, rngs=key)
    ce = optax.softmax_cross_entropy_with_integer_labels(logits, y)
    return (ce * w).sum() / jnp.maximum(w.sum(), 1.0), logits


def _train_step(model, optimizer, x, y, w, key, stats):
    x = apply_stats(x, stats)
    (loss, logits), grads = nnx.value_and_grad(loss_fn, has_aux=True)(model, x, y, w, key)
    optimizer.update(model, grads)
    return loss, jax.nn.softmax(logits)


def _predict(model, x, stats):
    return jax.nn.softmax(apply_model(model, apply_stats(x, stats)))


train_step = nnx.jit(_train_step)
train_step.__doc__ = """One optimizer step in place (nnx.jit). x: kind -> float32 [B, T, F]; y: int32 [B]; w: float32 [B];
key: dropout key; stats: standardizer tree or None. Returns (loss [], probs float32 [B, C])."""

predict_step = nnx.jit(_predict)
predict_step.__doc__ = """Clip probabilities float32 [B, C] of an eval-mode model (nnx.jit); x: kind -> float32 [B, T, F]."""


# The loops call the same step functions as pure `jax.jit`s over `nnx.split` state: nnx.jit re-walks the
# module graph on every call (~2 ms here, 7 % of a net_MUSIC step, and on 2 cores that Python time is
# taken from XLA's threads). The graphdef is static, so one compilation serves every run of a config.
@functools.partial(jax.jit, static_argnums=0, donate_argnums=1)
def split_train_step(graphdef, state, x, y, w, key, stats):
    model, optimizer = nnx.merge(graphdef, state)
    loss, probs = _train_step(model, optimizer, x, y, w, key, stats)
    return nnx.state((model, optimizer)), loss, probs


def _split_predict(graphdef, state, x, stats):
    return _predict(nnx.merge(graphdef, state), x, stats)


split_predict = jax.jit(_split_predict, static_argnums=0)


# The loops run the same steps with explicit shardings over a data mesh (module docstring). Outputs are
# replicated so that every process can read the loss and probabilities ([B, C]: small) without a gather.
@functools.lru_cache(maxsize=8)
def sharded_train_step(mesh):
    """`split_train_step` data-parallel over `mesh`:
    (graphdef, state, x, y, w, key_data, step, stats) -> (state, loss [], probs float32 [B, C]).

    state, key_data (uint32 key data of the epoch key), step (int32 [], folded into the key here, like
    `jax.random.fold_in(key, step)` outside) and stats are replicated; x (kind -> [B, T, F]), y and w are
    batch-sharded with B a multiple of mesh.size. The state is donated.
    """
    rep, rows = sharding.replicated(mesh), sharding.batch_sharding(mesh)

    def step_fn(graphdef, state, x, y, w, key_data, step, stats):
        key = jax.random.fold_in(jax.random.wrap_key_data(key_data), step)
        model, optimizer = nnx.merge(graphdef, state)
        loss, probs = _train_step(model, optimizer, x, y, w, key, stats)
        return nnx.state((model, optimizer)), loss, probs

    return jax.jit(step_fn, static_argnums=0, donate_argnums=1,
                   in_shardings=(rep, rows, rows, rows, rep, rep, rep), out_shardings=(rep, rep, rep))


@functools.lru_cache(maxsize=8)
def sharded_predict(mesh):
    """`split_predict` over `mesh`: (graphdef, state, x, stats) -> probs float32 [B, C] (replicated); x is
    batch-sharded with B a multiple of mesh.size, state and stats replicated."""
    rep = sharding.replicated(mesh)
    return jax.jit(_split_predict, static_argnums=0,
                   in_shardings=(rep, sharding.batch_sharding(mesh), rep), out_shardings=rep)


# ------------------------------------------------------------------------------------------- metrics


def track_metrics(track_probs: Sequence[np.ndarray], labels: np.ndarray) -> dict[str, float]:
    """loss (mean clip cross-entropy), clip_acc and track_acc from per-track clip probabilities [n_i, C]."""
    probs = np.concatenate(track_probs)
    clip_y = np.concatenate([np.full(len(p), y) for p, y in zip(track_probs, labels)])
    # Floor only guards log(0) when a probability underflows in float32.
    ce = -np.log(np.maximum(probs[np.arange(len(probs)), clip_y], 1e-30))
    votes = np.array([majority_vote(p) for p in track_probs])
    return {"loss": float(ce.mean()), "clip_acc": float((probs.argmax(1) == clip_y).mean()),
            "track_acc": float((votes == np.asarray(labels)).mean())}


def predict_clips(model: nnx.Module, x: Mapping[str, np.ndarray], *, stats, batch_size: int) -> np.ndarray:
    """Clip probabilities float32 [N, C] for x: kind -> float32 [N, T, F], in fixed-size zero-padded batches.

    The fixed batch shape means one compiled program serves every call (and gives the same bits as the
    training run's validation/test passes). The model must be in eval mode. Batches are split over
    `sharding.data_mesh()` (batch_size rounded up to a multiple of its device count); in a multi-process run
    every process passes the same x and gets every probability.
    """
    mesh = sharding.data_mesh()
    rows = sharding.padded_size(batch_size, mesh)
    graphdef, state = nnx.split(model)
    state, stats = sharding.replicate((state, stats), mesh)
    predict = sharded_predict(mesh)
    n = len(next(iter(x.values())))
    out = []
    for a in range(0, n, rows):
        chunk = {k: _pad_rows(np.asarray(v[a : a + rows], np.float32), rows) for k, v in x.items()}
        out.append(np.asarray(predict(graphdef, state, sharding.shard_rows(chunk, mesh), stats))[: min(rows, n - a)])
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def predict_tracks(model: nnx.Module, dataset, *, stats, batch_size: int) -> list[np.ndarray]:
    """Clip probabilities of every track of `dataset`: list of float32 [n_clips_i, C], track order.

    Tracks are read one at a time and their clips packed into `predict_clips` batches, so at most about
    one batch of clips beyond the current track is held in memory.
    """
    sizes, outputs, pending = [], [], []
    for i in range(dataset.n_tracks):
        clips = dataset.track_clips(i)
        sizes.append(len(next(iter(clips.values()))))
        pending.append(clips)
        n_pending = sum(len(next(iter(c.values()))) for c in pending)
        if n_pending >= batch_size or i == dataset.n_tracks - 1:
            x = {k: np.concatenate([c[k] for c in pending]) for k in pending[0]}
            keep = n_pending if i == dataset.n_tracks - 1 else n_pending - n_pending % batch_size
            outputs.append(predict_clips(model, {k: v[:keep] for k, v in x.items()}, stats=stats,
                                         batch_size=batch_size))
            pending = [{k: v[keep:] for k, v in x.items()}] if keep < n_pending else []
    probs = np.concatenate(outputs) if outputs else np.zeros((0, 0), np.float32)
    return np.split(probs, np.cumsum(sizes)[:-1]) if sizes else []


def _pad_rows(a: np.ndarray, n: int) -> np.ndarray:
    if len(a) == n:
        return a
    return np.concatenate([a, np.zeros((n - len(a), *a.shape[1:]), a.dtype)])


# ------------------------------------------------------------------------------------- state <-> tree


def fresh_state(cfg: TrainConfig, in_bins: Mapping[str, int]) -> tuple[nnx.Module, nnx.Optimizer]:
    """Model (initialised from cfg.seed) and its optimizer."""
    model = build_model(cfg.net, cfg.model, rngs=nnx.Rngs(params=cfg.seed), in_bins=in_bins)
    return model, nnx.Optimizer(model, make_optimizer(cfg), wrt=nnx.Param)


def state_tree(model, optimizer, *, epoch, rng: jax.Array, standardizer: Standardizer | None) -> dict:
    """The checkpointed pytree: model params, optimizer state, epoch, RNG key data, standardizer."""
    tree = {"model": nnx.to_pure_dict(nnx.state(model, nnx.Param)),
            "optimizer": nnx.to_pure_dict(nnx.state(optimizer)),
            "epoch": jnp.asarray(epoch, jnp.int32),
            "rng": jax.random.key_data(rng)}
    if standardizer is not None:
        tree["standardizer"] = standardizer.to_tree()
    return tree


def abstract_state_tree(cfg: TrainConfig, in_bins: Mapping[str, int]) -> dict:
    """`state_tree`'s structure with ShapeDtypeStruct leaves, built with nnx.eval_shape (no allocation)."""
    model, optimizer = nnx.eval_shape(lambda: fresh_state(cfg, in_bins))
    tree = {"model": nnx.to_pure_dict(nnx.state(model, nnx.Param)),
            "optimizer": nnx.to_pure_dict(nnx.state(optimizer)),
            "epoch": jax.ShapeDtypeStruct((), jnp.int32),
            "rng": jax.eval_shape(lambda: jax.random.key_data(jax.random.key(0)))}
    if cfg.standardize:
        tree["standardizer"] = Standardizer.abstract_tree({k: in_bins[k] for k in cfg.kinds})
    return tree


def load_state_tree(tree: Mapping, model, optimizer=None):
    """Write a restored tree's params (and optimizer state) into live objects; returns (epoch, rng, standardizer)."""
    params = nnx.state(model, nnx.Param)
    nnx.replace_by_pure_dict(params, tree["model"])
    nnx.update(model, params)
    if optimizer is not None:
        opt_state = nnx.state(optimizer)
        nnx.replace_by_pure_dict(opt_state, tree["optimizer"])
        nnx.update(optimizer, opt_state)
    std = Standardizer.from_tree(jax.device_get(tree["standardizer"])) if "standardizer" in tree else None
    return int(tree["epoch"]), jax.random.wrap_key_data(tree["rng"]), std


def best_score(metrics: Mapping) -> tuple:
    """Checkpoint ranking: validation track accuracy, then clip accuracy, then lower loss, then earlier epoch."""
    return (metrics["valid_track_acc"], metrics["valid_clip_acc"], -metrics["valid_loss"], -metrics["epoch"])


def open_checkpoints(run_dir: pathlib.Path, config: Mapping, *, keep_last: int = 2) -> RunCheckpoints:
    # Absolute: orbax refuses relative paths when several processes write one checkpoint.
    return RunCheckpoints(pathlib.Path(run_dir).absolute() / "checkpoints", config=config, score=best_score,
                          keep_last=keep_last, ignore_fields=RESUMABLE_FIELDS)


# ------------------------------------------------------------------------------------------ run files


def _write_json(path: pathlib.Path, obj) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)  # atomic: a kill never leaves half a config


def _check_run_config(run_dir: pathlib.Path, config: Mapping) -> None:
    """Refuse a run directory made under another config; write config.json (process 0 only)."""
    path = run_dir / "config.json"
    if path.exists():
        try:
            saved = json.loads(path.read_text())
        except ValueError as e:
            raise CheckpointError(f"{path}: unreadable run config ({e})") from e
        if not isinstance(saved, dict):
            raise CheckpointError(f"{path}: unreadable run config (not a JSON object)")
        diff = config_diff(saved, config, ignore=RESUMABLE_FIELDS)
        if diff:
            raise CheckpointError(f"{run_dir} holds a run with a different config ({describe_diff(diff)}); "
                                  "use another --workdir or delete that run directory")
    if distributed.is_primary():
        _write_json(path, config)


def _read_metrics(path: pathlib.Path, *, upto: int) -> list[dict]:
    """Records of epochs <= upto; lines of epochs a killed run did not checkpoint are dropped."""
    if not path.exists():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
        except ValueError:  # a line cut by a kill
            continue
        if rec.get("epoch", upto + 1) <= upto:
            records.append(rec)
    return records


def split_digest(ids: Mapping[str, Sequence[str]]) -> str:
    """12-hex-digit hash of a fold's train/valid/test track lists (resuming on another split fails)."""
    blob = json.dumps({k: list(v) for k, v in sorted(ids.items())}).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


# ------------------------------------------------------------------------------------------ the loop


def _batches(dataset, cfg: TrainConfig, epoch: int,
             rows: int) -> Iterator[tuple[dict, np.ndarray, np.ndarray, np.ndarray, int]]:
    """Global training batches of cfg.batch_size clips, zero-padded to `rows` (>= batch_size) with weight 0:
    (x, y, w, track, n_real); order from (seed, epoch)."""
    for b in dataset.batches(cfg.batch_size, seed=cfg.seed, epoch=epoch, shuffle=True):
        n = len(b.y)
        x = {k: _pad_rows(np.asarray(v, np.float32), rows) for k, v in b.x.items()}
        y = _pad_rows(np.asarray(b.y, np.int32), rows)
        w = _pad_rows(np.ones(n, np.float32), rows)
        yield x, y, w, np.asarray(b.track), n


def _train_epoch(model, optimizer, data: FoldData, cfg: TrainConfig, *, epoch: int, key: jax.Array, stats):
    """One pass over the shuffled training clips (data-parallel over `sharding.data_mesh()`); returns running
    loss, clip and track accuracy. Step s uses the dropout key fold_in(key, s)."""
    model.train()
    mesh = sharding.data_mesh()
    step_fn = sharded_train_step(mesh)
    graphdef, state = nnx.split((model, optimizer))
    state, key_data, stats = sharding.replicate((state, jax.random.key_data(key), stats), mesh)
    outs = []
    rows = sharding.padded_size(cfg.batch_size, mesh)
    for step, (x, y, w, track, n) in enumerate(_batches(data.train, cfg, epoch, rows)):
        state, loss, probs = step_fn(graphdef, state, *sharding.shard_rows((x, y, w), mesh), key_data,
                                     np.int32(step), stats)
        outs.append((loss, probs, y[:n], track, n))  # device arrays: no sync inside the epoch
    nnx.update((model, optimizer), state)
    losses = np.array([float(o[0]) for o in outs])
    ns = np.array([o[4] for o in outs])
    probs = np.concatenate([np.asarray(o[1])[: o[4]] for o in outs])
    y = np.concatenate([o[2] for o in outs])
    track = np.concatenate([o[3] for o in outs])
    per_track = [probs[track == i] for i in range(data.train.n_tracks)]
    seen = [i for i, p in enumerate(per_track) if len(p)]
    votes = np.array([majority_vote(per_track[i]) for i in seen])
    return {"loss": float((losses * ns).sum() / ns.sum()),
            "train_clip_acc": float((probs.argmax(1) == y).mean()),
            "train_track_acc": float((votes == np.asarray(data.labels["train"])[seen]).mean())}


def _fmt_eta(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m // 60}:{m % 60:02d}:{s:02d}" if m >= 60 else f"{m}:{s:02d}"


def train_and_evaluate(cfg: TrainConfig, run_dir: str | os.PathLike, data: FoldData, *,
                       in_bins: Mapping[str, int], run_info: Mapping | None = None) -> RunResult:
    """Train (or resume) in `run_dir`, keep the best epoch, write test_probs.npz. See the module docstring.

    in_bins: feature widths {kind: F}; run_info: JSON-able identity of the data (corpus name, feature
    config, split digest) saved in config.json and checked on resume.
    """
    run_dir = pathlib.Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    for name in ("train", "valid", "test"):
        if len(data.ids[name]) == 0:
            raise ValueError(f"the {name} split of fold {cfg.fold} has no tracks")
    config = {"train": cfg.to_dict(), "in_bins": {k: int(in_bins[k]) for k in cfg.kinds}, **(run_info or {})}
    _check_run_config(run_dir, config)

    model, optimizer = fresh_state(cfg, in_bins)
    metrics_path = run_dir / "metrics.jsonl"
    with open_checkpoints(run_dir, config, keep_last=cfg.keep_last) as ckpts:
        latest = ckpts.latest_step()
        if latest is not None:
            if latest > cfg.epochs:
                raise CheckpointError(f"{run_dir} already has {latest} epochs; run with epochs >= {latest}")
            tree = ckpts.restore(latest, abstract_state_tree(cfg, in_bins))
            epoch, rng, standardizer = load_state_tree(tree, model, optimizer)
            logging.info("resuming %s from epoch %d", run_dir, epoch)
        else:
            epoch, rng = 0, jax.random.key(cfg.seed)
            standardizer = Standardizer.fit(data.cache, data.ids["train"], cfg.kinds) if cfg.standardize else None
        stats = None if standardizer is None else standardizer.to_tree()
        if distributed.is_primary():  # the only writer of the run's files (module docstring)
            history = _read_metrics(metrics_path, upto=epoch)
            metrics_path.write_text("".join(json.dumps(r) + "\n" for r in history))

        logging.info("%s fold %d (%s split): %d params, %d/%d/%d train/valid/test tracks, %d train clips",
                     cfg.net, cfg.fold, cfg.split, count_params(model), len(data.ids["train"]),
                     len(data.ids["valid"]), len(data.ids["test"]), data.train.n_clips)
        epoch_times = []
        while epoch < cfg.epochs:
            epoch += 1
            t0 = time.perf_counter()
            epoch_key, rng = jax.random.split(rng)
            lr = epoch_learning_rate(cfg, epoch)
            set_learning_rate(optimizer, lr)
            rec = {"epoch": epoch, "lr": lr,
                   **_train_epoch(model, optimizer, data, cfg, epoch=epoch, key=epoch_key, stats=stats)}
            t_train = time.perf_counter() - t0
            model.eval()
            valid = track_metrics(predict_tracks(model, data.valid, stats=stats, batch_size=cfg.eval_batch_size),
                                  data.labels["valid"])
            rec.update({f"valid_{k}": v for k, v in valid.items()})
            epoch_times.append(time.perf_counter() - t0)
            rec.update({"clips_per_s": data.train.n_clips / t_train, "epoch_s": epoch_times[-1],
                        "eta_s": float(np.mean(epoch_times)) * (cfg.epochs - epoch)})
            logging.info("epoch %d/%d  lr %.2e  loss %.4f  train clip %.3f track %.3f  valid loss %.4f clip %.3f"
                         " track %.3f  %.0f clips/s  ETA %s", epoch, cfg.epochs, lr, rec["loss"], rec["train_clip_acc"],
                         rec["train_track_acc"], rec["valid_loss"], rec["valid_clip_acc"], rec["valid_track_acc"],
                         rec["clips_per_s"], _fmt_eta(rec["eta_s"]))
            # Metrics line first, checkpoint second: a kill in between leaves a line that resuming drops.
            if distributed.is_primary():
                with open(metrics_path, "a") as f:
                    f.write(json.dumps(rec) + "\n")
            # Replicated over the mesh: with several processes orbax then writes each array once.
            tree = sharding.replicate(state_tree(model, optimizer, epoch=epoch, rng=rng, standardizer=standardizer),
                                      sharding.data_mesh())
            ckpts.save(epoch, tree,
                       metrics={k: rec[k] for k in ("epoch", "valid_track_acc", "valid_clip_acc", "valid_loss")})

        best = ckpts.best_step()
        load_state_tree(ckpts.restore(best, abstract_state_tree(cfg, in_bins)), model)
        best_metrics = ckpts.metrics(best)

    model.eval()
    test_probs = predict_tracks(model, data.test, stats=stats, batch_size=cfg.eval_batch_size)
    test = track_metrics(test_probs, data.labels["test"])
    probs_path = run_dir / "test_probs.npz"
    if distributed.is_primary():
        save_test_probs(probs_path, data.ids["test"], data.labels["test"], test_probs, data.genres)
    result = RunResult(run_dir=run_dir, test_accuracy=test["track_acc"], test_clip_accuracy=test["clip_acc"],
                       best_epoch=best, valid_accuracy=best_metrics["valid_track_acc"], epochs=epoch,
                       checkpoint_dir=run_dir / "checkpoints", metrics_path=metrics_path, test_probs_path=probs_path)
    if distributed.is_primary():
        _write_json(run_dir / "result.json", {
            "best_epoch": best, "epochs": epoch, "valid_track_acc": best_metrics["valid_track_acc"],
            "valid_clip_acc": best_metrics["valid_clip_acc"], "test_track_acc": test["track_acc"],
            "test_clip_acc": test["clip_acc"], "test_loss": test["loss"]})
    logging.info("best epoch %d (valid track acc %.3f); test track acc %.3f, clip acc %.3f",
                 best, result.valid_accuracy, result.test_accuracy, result.test_clip_accuracy)
    return result


def save_test_probs(path: pathlib.Path, track_ids: Sequence[str], labels: np.ndarray,
                    track_probs: Sequence[np.ndarray], genres: Sequence[str]) -> None:
    """test_probs.npz: track_ids str [N], labels int32 [N], probs float32 [N, C_max, C] (NaN past a track's
    clip count), n_clips int32 [N], genres str [C]. Written atomically."""
    n_clips = np.array([len(p) for p in track_probs], np.int32)
    c = len(genres)
    probs = np.full((len(track_probs), int(n_clips.max(initial=0)), c), np.nan, np.float32)
    for i, p in enumerate(track_probs):
        probs[i, : len(p)] = p
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, track_ids=np.asarray(track_ids, dtype=str), labels=np.asarray(labels, np.int32), probs=probs,
             n_clips=n_clips, genres=np.asarray(genres, dtype=str))
    os.replace(tmp, path)


# ------------------------------------------------------------------------------ corpus entry point


def run(cfg: TrainConfig, workdir, corpus) -> RunResult:
    """Train `cfg.net` on fold `cfg.fold` of `corpus` (an mgc_jax.corpus.Corpus) under `workdir` (a Workdir).

    The split comes from `mgc_jax.datasets.folds.get_split` (and its split file); the run directory is
    `workdir.run_dir(corpus.name, cfg.split, cfg.net, cfg.fold)`. Returns the RunResult.
    """
    split = get_split(workdir, corpus.name, corpus.tracks, cfg.split, cfg.fold)
    genre_of = {t.track_id: t.genre for t in corpus.tracks}
    ids = {"train": tuple(split.train), "valid": tuple(split.valid), "test": tuple(split.test)}
    labels = {k: np.array([GENRES.index(genre_of[t]) for t in v], np.int32) for k, v in ids.items()}
    datasets = {k: ClipDataset(corpus.cache, list(v), labels[k], kinds=cfg.kinds) for k, v in ids.items()}
    data = FoldData(**datasets, ids=ids, labels=labels, cache=corpus.cache, genres=tuple(GENRES))
    in_bins = feature_widths(corpus.cfg)
    run_info = {"corpus": corpus.name, "features": corpus.cfg.to_dict(), "split_digest": split_digest(ids)}
    run_dir = workdir.run_dir(corpus.name, cfg.split, cfg.net, cfg.fold)
    return train_and_evaluate(cfg, run_dir, data, in_bins=in_bins, run_info=run_info)


def feature_widths(feature_cfg) -> dict[str, int]:
    """{kind: F} of the feature maps a FeatureConfig produces: stft n_bins (513), music 8."""
    return {"stft": feature_cfg.n_bins, "music": len(FEATURE_NAMES)}


# ----------------------------------------------------------------------------------------- inference


class Trained(NamedTuple):
    """A restored run for inference: eval-mode model, its configs and standardizer (None if raw units)."""

    model: nnx.Module
    train_cfg: TrainConfig
    feature_cfg: Any  # dsp.FeatureConfig, or None for runs made without one
    standardizer: Standardizer | None
    epoch: int  # the checkpoint's epoch (the best one by default)
    run_dir: pathlib.Path

    @property
    def kinds(self) -> tuple[str, ...]:
        return self.train_cfg.kinds

    def predict(self, x: Mapping[str, np.ndarray]) -> np.ndarray:
        """Clip probabilities float32 [B, C] for x: kind -> float32 [B, T, F] (raw units; standardised here).

        Runs the same compiled program as the training run's test pass (batches of eval_batch_size).
        """
        stats = None if self.standardizer is None else self.standardizer.to_tree()
        return predict_clips(self.model, {k: x[k] for k in self.kinds}, stats=stats,
                             batch_size=self.train_cfg.eval_batch_size)


def load_trained(run_dir: str | os.PathLike, *, step: int | None = None) -> Trained:
    """Restore a run's best checkpoint (or `step`) against an abstract state; the model is in eval mode.

    Raises CheckpointError naming the directory when config.json or the checkpoint is missing or damaged.
    """
    run_dir = pathlib.Path(run_dir)
    try:
        config = json.loads((run_dir / "config.json").read_text())
        cfg = TrainConfig.from_dict(config["train"])
        # ConfigError is a ValueError: a damaged "features" entry is reported with the run's name too.
        feature_cfg = FeatureConfig.from_dict(config["features"]) if "features" in config else None
        in_bins = config["in_bins"]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise CheckpointError(f"{run_dir}: not a training run directory (config.json: {e!r})") from e
    with open_checkpoints(run_dir, config, keep_last=cfg.keep_last) as ckpts:
        step = ckpts.best_step() if step is None else step
        if step is None:
            raise CheckpointError(f"{run_dir / 'checkpoints'}: no finished checkpoint")
        tree = ckpts.restore(step, abstract_state_tree(cfg, in_bins))
    abstract_model = nnx.eval_shape(lambda: build_model(cfg.net, cfg.model, rngs=nnx.Rngs(0), in_bins=in_bins))
    graphdef, params = nnx.split(abstract_model)
    nnx.replace_by_pure_dict(params, tree["model"])
    model = nnx.merge(graphdef, params)
    model.eval()
    std = Standardizer.from_tree(jax.device_get(tree["standardizer"])) if "standardizer" in tree else None
    return Trained(model, cfg, feature_cfg, std, int(tree["epoch"]), run_dir)
