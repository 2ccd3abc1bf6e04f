"""The compiled steps of training and evaluation: loss, the optimizer and its per-epoch learning rate, the train
step (live, split and sharded forms) and clip/track prediction.
"""
from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from mgc_jax import sharding
from mgc_jax.config import TrainConfig
from mgc_jax.evaluate import majority_vote
from mgc_jax.nets.models import apply_model
from mgc_jax.nets.standardize import apply_stats


def make_optimizer(cfg: TrainConfig) -> optax.GradientTransformation:
    """Adam or SGD with the learning rate as optimizer state (set per epoch by `set_learning_rate`)."""
    if cfg.optimizer == "adam":
        return optax.inject_hyperparams(optax.adam)(learning_rate=cfg.learning_rate, b1=0.9, b2=0.999, eps=1e-8)
    return optax.inject_hyperparams(optax.sgd)(learning_rate=cfg.learning_rate, momentum=cfg.momentum)


def epoch_learning_rate(cfg: TrainConfig, epoch: int) -> float:
    """Learning rate of 1-based `epoch`: cfg.learning_rate * cfg.lr_decay ** (epoch - 1), or with
    lr_schedule="cosine" cfg.learning_rate * (1 + cos(pi * (epoch - 1) / cfg.epochs)) / 2.

    Why a decay: on raw-unit music maps (roughness ~1e2-1e5, zcr ~1e2-5e3 beside features in [0, 1]) one
    Adam step of 1e-3 on a roughness weight moves a conv1 output by 1e-3 x the roughness (0.1 to 100), so with
    a constant rate net_MUSIC's validation accuracy never settled (synthetic fold 3, 40 tracks per genre: track
    accuracy 0.83-1.00 over epochs 4-40, drops of up to 12.5 points from one epoch to the next). A per-epoch
    geometric decay lets the late epochs settle (same fold: 1.00 over the last 20 epochs). It depends on the
    epoch alone, not on the total, so raising --epochs on a finished run continues it exactly as an
    uninterrupted longer run would have.
    """
    if cfg.lr_schedule == "cosine":  # depends on the total: a run continued to more --epochs changes schedule
        return float(cfg.learning_rate * (1 + math.cos(math.pi * (epoch - 1) / cfg.epochs)) / 2)
    return float(cfg.learning_rate * cfg.lr_decay ** (epoch - 1))


def set_learning_rate(optimizer: nnx.Optimizer, lr: float) -> None:
    """Write the learning rate into the optimizer state (float32: the jitted step's signature does not change)."""
    optimizer.opt_state.hyperparams["learning_rate"][...] = jnp.asarray(lr, jnp.float32)


def loss_fn(model: nnx.Module, x: Mapping[str, jax.Array], y: jax.Array, w: jax.Array, key: jax.Array):
    """Weighted mean categorical cross-entropy over the batch.

    x: kind -> float32 [B, T, F]; y: int32 [B] labels, or float32 [B, C] target distributions (mixup);
    w: float32 [B] (1 for real clips, 0 for padding). Returns (loss [], logits [B, C]).
    """
    logits = apply_model(model, x, rngs=key)
    if y.ndim == 2:
        ce = optax.softmax_cross_entropy(logits, y)
    else:
        ce = optax.softmax_cross_entropy_with_integer_labels(logits, y)
    return (ce * w).sum() / jnp.maximum(w.sum(), 1.0), logits


MIX_STREAM = 0x6D6978  # folded into the step's dropout key for the mixup draws (independent of the masks)


def mix_batch(x: Mapping[str, jax.Array], y: jax.Array, w: jax.Array, key: jax.Array, *, alpha: float,
              num_classes: int) -> tuple[dict, jax.Array]:
    """Mixup (Zhang et al., ICLR 2018) of a training batch: (x', targets float32 [B, C]).

    Row i is mixed with a random real row j (padding rows, w = 0, are never partners):
    x'_i = lam_i x_i + (1 - lam_i) x_j and target lam_i onehot(y_i) + (1 - lam_i) onehot(y_j), with
    lam_i ~ Beta(alpha, alpha) per row. x: kind -> float32 [B, T, F] (after standardisation); y: int32 [B].
    Why: 30-40 real training tracks give ~700 clips that the nets fit within a few epochs; interpolated
    clips with soft targets are a regulariser that needs no audio (benchmarks/real_music.md).
    """
    k_pair, k_lam = jax.random.split(key)
    n = y.shape[0]
    real = w > 0
    order = jnp.argsort(jnp.where(real, jax.random.uniform(k_pair, (n,)), 2.0))  # real rows first, shuffled
    partner = order[jnp.arange(n) % jnp.maximum(real.sum(), 1)]
    lam = jax.random.beta(k_lam, alpha, alpha, (n,))
    onehot = jax.nn.one_hot(y, num_classes, dtype=jnp.float32)
    mixed = {}
    for k, v in x.items():
        lam_k = lam.reshape((n,) + (1,) * (v.ndim - 1))
        mixed[k] = lam_k * v + (1 - lam_k) * v[partner]
    return mixed, lam[:, None] * onehot + (1 - lam[:, None]) * onehot[partner]


def _train_step(model, optimizer, x, y, w, key, stats, mixup: float = 0.0):
    x = apply_stats(x, stats)
    target = y
    if mixup > 0:
        x, target = mix_batch(x, y, w, jax.random.fold_in(key, MIX_STREAM), alpha=mixup,
                              num_classes=_num_classes(model))
    (loss, logits), grads = nnx.value_and_grad(loss_fn, has_aux=True)(model, x, target, w, key)
    optimizer.update(model, grads)
    return loss, jax.nn.softmax(logits)


def _num_classes(model: nnx.Module) -> int:
    return int(model.head.out.out_features)


def _predict(model, x, stats):
    return jax.nn.softmax(apply_model(model, apply_stats(x, stats)))


train_step = nnx.jit(_train_step)
train_step.__doc__ = """One optimizer step in place (nnx.jit). x: kind -> float32 [B, T, F]; y: int32 [B]; w: float32 [B];
key: dropout key; stats: standardizer tree or None. Returns (loss [], probs float32 [B, C])."""



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


# The loops run the same steps with explicit shardings over a data mesh (mgc_jax.train.loop, "Devices"). Outputs are
# replicated so that every process can read the loss and probabilities ([B, C]: small) without a gather.
@functools.lru_cache(maxsize=8)
def sharded_train_step(mesh, mixup: float = 0.0):
    """`split_train_step` data-parallel over `mesh`:
    (graphdef, state, x, y, w, key_data, step, stats) -> (state, loss [], probs float32 [B, C]).

    state, key_data (uint32 key data of the epoch key), step (int32 [], folded into the key here, like
    `jax.random.fold_in(key, step)` outside) and stats are replicated; x (kind -> [B, T, F]), y and w are
    batch-sharded with B a multiple of mesh.size. The state is donated. mixup: Beta parameter of `mix_batch`
    (0 = off).
    """
    rep, rows = sharding.replicated(mesh), sharding.batch_sharding(mesh)

    def step_fn(graphdef, state, x, y, w, key_data, step, stats):
        key = jax.random.fold_in(jax.random.wrap_key_data(key_data), step)
        model, optimizer = nnx.merge(graphdef, state)
        loss, probs = _train_step(model, optimizer, x, y, w, key, stats, mixup)
        return nnx.state((model, optimizer)), loss, probs

    return jax.jit(step_fn, static_argnums=0, donate_argnums=1,
                   in_shardings=(rep, rows, rows, rows, rep, rep, rep), out_shardings=(rep, rep, rep))


@functools.lru_cache(maxsize=8)
def sharded_predict(mesh):
    """Eval-mode `_predict` over `mesh`: (graphdef, state, x, stats) -> probs float32 [B, C] (replicated); x is
    batch-sharded with B a multiple of mesh.size, state and stats replicated."""
    rep = sharding.replicated(mesh)
    return jax.jit(_split_predict, static_argnums=0,
                   in_shardings=(rep, sharding.batch_sharding(mesh), rep), out_shardings=rep)


# ----------------------------------------------------------------------------------- metrics, prediction


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
        chunk = {k: sharding.pad_rows(np.asarray(v[a : a + rows], np.float32), rows) for k, v in x.items()}
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
