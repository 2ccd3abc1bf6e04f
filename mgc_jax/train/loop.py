"""The training loop of one run (net_STFT, net_MUSIC or early fusion on one fold): resumable from its last
finished epoch with bit-identical results, logged per epoch, data-parallel over every device; it tests the
epoch `TrainConfig.select` names (the last by default) and writes the run files of `mgc_jax.train.rundir` and
its TensorBoard events (`mgc_jax.train.summaries`), holding the run's lock meanwhile.
"""
from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import os
import pathlib
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NamedTuple

import jax
import numpy as np
from absl import logging
from flax import nnx

import mgc_jax.config
from mgc_jax import distributed, sharding
from mgc_jax.config import TrainConfig, feature_widths
from mgc_jax.data.clips import ClipDataset
from mgc_jax.errors import DataError
from mgc_jax.evaluate import majority_vote
from mgc_jax.nets.input_transform import TransformedCache, map_transform
from mgc_jax.nets.models import count_params
from mgc_jax.nets.standardize import Standardizer
from mgc_jax.train import online, rundir, runlock, summaries
from mgc_jax.train.checkpoint import (
    CheckpointError,
    abstract_state_tree,
    fresh_state,
    load_state_tree,
    open_checkpoints,
    sample_rate_of,
    state_tree,
)
from mgc_jax.train.steps import (
    epoch_learning_rate,
    predict_tracks,
    set_learning_rate,
    sharded_train_step,
    track_metrics,
)


class RunResult(NamedTuple):
    run_dir: pathlib.Path
    test_accuracy: float  # test-track accuracy, majority vote over clips (tie: largest mean probability)
    test_clip_accuracy: float
    best_epoch: int  # the epoch that classified the test tracks (TrainConfig.select)
    valid_accuracy: float  # validation-track accuracy of the best epoch
    epochs: int  # epochs trained in total (this call and earlier ones)
    checkpoint_dir: pathlib.Path
    metrics_path: pathlib.Path
    test_probs_path: pathlib.Path


@dataclasses.dataclass(frozen=True)
class FoldData:
    """The three clip datasets of a fold plus what is needed beside them.

    train/valid/test: `mgc_jax.data.clips.ClipDataset`-like objects (`n_clips`, `n_tracks`,
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


# ------------------------------------------------------------------------------------------ run files


def _check_run_config(run_dir: pathlib.Path, config: Mapping) -> None:
    """Refuse a run directory made under another config (`rundir.config_mismatch`). Writes nothing: config.json
    is written only once every check of the request has passed (a refused command changes no file)."""
    try:
        diff = rundir.saved_config_mismatch(run_dir, config)
    except DataError as e:
        raise CheckpointError(str(e)) from e
    if diff:
        why = (" (its tracks' audio differs from this run's: another copy of the corpus under the same name and "
               "track ids?)") if "audio_sha256" in diff else ""
        if "dsp_code" in diff or "features_hash" in diff:
            why += (" (the dsp code or feature configuration changed since this run's maps were made: its checkpoints "
                    "were trained on maps that are no longer made)")
        raise CheckpointError(f"{run_dir} holds a run with a different config ({diff}){why}; "
                              "use another --workdir or delete that run directory")
    if "dsp_code" in config and (run_dir / rundir.CONFIG).is_file() and "dsp_code" not in rundir.read_config(run_dir):
        logging.warning("%s: its config.json does not record the dsp code its maps were made by (saved before it "
                        "was recorded): resuming on the maps of dsp code %s, which may differ", run_dir,
                        config.get("dsp_code"))


def split_digest(ids: Mapping[str, Sequence[str]]) -> str:
    """12-hex-digit hash of a fold's train/valid/test track lists (resuming on another split fails)."""
    blob = json.dumps({k: list(v) for k, v in sorted(ids.items())}).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def audio_digest(entries: Mapping[str, Mapping], ids: Mapping[str, Sequence[str]]) -> str:
    """16-hex-digit hash of the audio (the cache's per-track SHA-256) of a fold's tracks. Track ids alone do not
    name the audio: two GTZAN copies with one folder name share a corpus name and ids, and resuming a run
    trained on the one with the other's features must fail, not report a mixture."""
    rows = sorted((t, entries.get(t, {}).get("audio_sha256")) for part in ids.values() for t in part)
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()[:16]


# ------------------------------------------------------------------------------------------ the loop


def _batches(dataset, cfg: TrainConfig, epoch: int,
             rows: int) -> Iterator[tuple[dict, np.ndarray, np.ndarray, np.ndarray, int]]:
    """Global training batches of cfg.batch_size clips, zero-padded to `rows` (>= batch_size) with weight 0:
    (x, y, w, track, n_real); order from (seed, epoch)."""
    for b in dataset.batches(cfg.batch_size, seed=cfg.seed, epoch=epoch, shuffle=True, crops=cfg.crop_mode):
        n = len(b.y)
        # Float maps or audio as float32; the online path's start frames and track indices stay integers.
        x = {k: sharding.pad_rows(_float32(v), rows) for k, v in b.x.items()}
        y = sharding.pad_rows(np.asarray(b.y, np.int32), rows)
        w = sharding.pad_rows(np.ones(n, np.float32), rows)
        yield x, y, w, np.asarray(b.track), n


def _float32(v) -> np.ndarray:
    v = np.asarray(v)
    return v if np.issubdtype(v.dtype, np.integer) else v.astype(np.float32, copy=False)


def _train_epoch(model, optimizer, data: FoldData, cfg: TrainConfig, *, epoch: int, key: jax.Array, stats):
    """One pass over the shuffled training clips (data-parallel over `sharding.data_mesh()`); returns running
    loss, clip and track accuracy. Step s uses the dropout key fold_in(key, s). With mixup the running figures
    are of the mixed clips against each clip's own label (net_MUSIC's default: ~0.6 clip accuracy while the
    validation clips score 1.0 on the synthetic corpus); validation is the measure."""
    model.train()
    mesh = sharding.data_mesh()
    step_fn = (online.sharded_online_step(mesh, data.train.feature_cfg, cfg.kinds, cfg.augment, cfg.stft_transform,
                                          cfg.mixup_alpha)
               if cfg.features == "online" else sharded_train_step(mesh, cfg.mixup_alpha))
    graphdef, state = nnx.split((model, optimizer))
    state, key_data, stats = sharding.replicate((state, jax.random.key_data(key), stats), mesh)
    outs = []
    # Rows of the padded batch: never more than the clips there are (`train_and_evaluate` warns when it clamps).
    rows = sharding.padded_size(min(cfg.batch_size, data.train.n_clips), mesh)
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
                       in_bins: Mapping[str, int], run_info: Mapping | None = None,
                       tensorboard: bool = True) -> RunResult:
    """Train (or resume) in `run_dir`, keep the best epoch, write test_probs.npz. See the module docstring.

    in_bins: feature widths {kind: F}; run_info: JSON-able identity of the data (corpus name, feature
    config, split digest) saved in config.json and checked on resume; tensorboard: write the run's TensorBoard
    events (`mgc_jax.train.summaries`). The run directory is locked meanwhile (`runlock.run_lock`): a second
    training of the same run is refused (`runlock.RunLocked`).
    """
    run_dir = pathlib.Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    primary = distributed.is_primary()  # the only writer of the run's files (module docstring)
    with runlock.run_lock(run_dir, enabled=primary), \
            summaries.RunSummaries(run_dir, enabled=tensorboard and primary) as events:
        return _train_and_evaluate(cfg, run_dir, data, in_bins=in_bins, run_info=run_info, events=events)


def _train_and_evaluate(cfg: TrainConfig, run_dir: pathlib.Path, data: FoldData, *, in_bins: Mapping[str, int],
                        run_info: Mapping | None, events: summaries.RunSummaries) -> RunResult:
    for name in ("train", "valid", "test"):
        if len(data.ids[name]) == 0:
            raise ValueError(f"the {name} split of fold {cfg.fold} has no tracks")
    if len(np.unique(data.labels["train"])) < 2:  # it would learn one answer and score 1.000 on a one-class test
        raise DataError(f"the training tracks of fold {cfg.fold} are all of one class "
                        f"({data.genres[int(data.labels['train'][0])]}): a classifier needs at least 2")
    if cfg.model.num_classes != len(data.genres):
        raise ValueError(f"ModelConfig.num_classes={cfg.model.num_classes} but the data has {len(data.genres)} "
                         f"classes ({', '.join(data.genres)}); TrainConfig.for_classes sets it")
    data = with_input_transform(data, cfg)
    if (cfg.features == "online") != isinstance(data.train, online.OnlineClips):
        raise ValueError(f"features={cfg.features!r} needs {'an' if cfg.features == 'online' else 'no'} "
                         "mgc_jax.train.online.OnlineClips training set")
    config = {"train": cfg.to_dict(), "in_bins": {k: int(in_bins[k]) for k in cfg.kinds}, **(run_info or {})}
    _check_run_config(run_dir, config)
    if cfg.batch_size > data.train.n_clips:
        logging.warning("batch_size=%d is larger than the %d training clips of fold %d: every step takes all %d "
                        "(--batch_size=%d would do the same)", cfg.batch_size, data.train.n_clips, cfg.fold,
                        data.train.n_clips, data.train.n_clips)

    rate = sample_rate_of(config)
    model, optimizer = fresh_state(cfg, in_bins, rate)
    metrics_path = run_dir / rundir.METRICS
    with open_checkpoints(run_dir, config, keep_last=cfg.keep_last) as ckpts:
        latest = ckpts.latest_step()
        if latest is not None and latest > cfg.epochs:
            raise CheckpointError(f"{run_dir} already has {latest} epochs; run with epochs >= {latest}")
        if latest is not None:
            tree = ckpts.restore(latest, abstract_state_tree(cfg, in_bins, rate))
            epoch, rng, standardizer = load_state_tree(tree, model, optimizer)
            logging.info("resuming %s from epoch %d", run_dir, epoch)
        else:
            epoch, rng = 0, jax.random.key(cfg.seed)
            # Fitted on the maps as the net sees them (after the STFT transform).
            standardizer = (Standardizer.fit(TransformedCache(data.cache, cfg.stft_transform), data.ids["train"],
                                             cfg.kinds) if cfg.standardize else None)
        stats = None if standardizer is None else standardizer.to_tree()
        if distributed.is_primary():  # the only writer of the run's files (module docstring)
            # Only now, every check and the restore passed: a refused request leaves config.json as it was.
            rundir.write_config(run_dir, config)
            rundir.write_metrics(run_dir, rundir.read_metrics(run_dir, upto=epoch))
            events.start(cfg.to_dict(), rundir.read_metrics(run_dir))  # epochs a kill kept out of the events

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
                rundir.append_metrics(run_dir, rec)
                events.epochs([rec])
            # Replicated over the mesh: with several processes orbax then writes each array once.
            tree = sharding.replicate(state_tree(model, optimizer, epoch=epoch, rng=rng, standardizer=standardizer),
                                      sharding.data_mesh())
            ckpts.save(epoch, tree,
                       metrics={k: rec[k] for k in ("epoch", "valid_track_acc", "valid_clip_acc", "valid_loss")})

        best = ckpts.best_step() if cfg.select == "best_valid" else ckpts.latest_step()
        load_state_tree(ckpts.restore(best, abstract_state_tree(cfg, in_bins, rate)), model)
        best_metrics = ckpts.metrics(best)

    model.eval()
    test_probs = predict_tracks(model, data.test, stats=stats, batch_size=cfg.eval_batch_size)
    test = track_metrics(test_probs, data.labels["test"])
    probs_path = run_dir / rundir.TEST_PROBS
    if distributed.is_primary():
        rundir.write_test_probs(probs_path, data.ids["test"], data.labels["test"], test_probs, data.genres)
    result = RunResult(run_dir=run_dir, test_accuracy=test["track_acc"], test_clip_accuracy=test["clip_acc"],
                       best_epoch=best, valid_accuracy=best_metrics["valid_track_acc"], epochs=epoch,
                       checkpoint_dir=run_dir / rundir.CHECKPOINTS, metrics_path=metrics_path, test_probs_path=probs_path)
    if distributed.is_primary():
        rundir.write_result(run_dir, {
            "best_epoch": best, "epochs": epoch, "valid_track_acc": best_metrics["valid_track_acc"],
            "valid_clip_acc": best_metrics["valid_clip_acc"], "test_track_acc": test["track_acc"],
            "test_clip_acc": test["clip_acc"], "test_loss": test["loss"]})
        events.finish(epoch, test=test, best_epoch=best, probs=test_probs, labels=data.labels["test"],
                      genres=data.genres, test_set=data.test, ids=data.ids["test"])
    logging.info("best epoch %d (valid track acc %.3f); test track acc %.3f, clip acc %.3f",
                 best, result.valid_accuracy, result.test_accuracy, result.test_clip_accuracy)
    return result


# ------------------------------------------------------------------------------ corpus entry point


def run(cfg: TrainConfig, workdir, corpus, *, tensorboard: bool = True) -> RunResult:
    """Train `cfg.net` on fold `cfg.fold` of `corpus` (an mgc_jax.data.corpus.Corpus) under `workdir` (a Workdir).

    The split comes from `corpus.split` (and its split file, `cfg.n_folds` folds); the model head has one
    output per class of the corpus (`cfg.model.num_classes` is replaced by `len(corpus.classes)`); the run
    directory is `workdir.run_dir(corpus.name, cfg.split, cfg.net, cfg.fold, n_folds=cfg.n_folds)`, and
    its config.json records the corpus's classes and kind; tensorboard: write its events (`train_and_evaluate`).
    Returns the RunResult.
    """
    cfg = cfg.for_classes(len(corpus.classes))
    split = corpus.split(workdir, cfg.split, cfg.fold, n_folds=cfg.n_folds)
    data = fold_data(cfg, corpus, split)
    run_info = {"corpus": corpus.name, "corpus_kind": corpus.kind, "classes": list(corpus.classes),
                "features": corpus.cfg.to_dict(), "split_digest": split_digest(data.ids),
                "audio_sha256": audio_digest(corpus.cache.entries(), data.ids),
                # What made the maps (the cache holds maps of the current dsp code only: mgc_jax.data.extraction).
                "dsp_code": mgc_jax.config.dsp_code_hash(), "features_hash": corpus.cfg.hash()}
    run_dir = workdir.run_dir(corpus.name, cfg.split, cfg.net, cfg.fold, n_folds=cfg.n_folds)
    return train_and_evaluate(cfg, run_dir, data, in_bins=feature_widths(corpus.cfg), run_info=run_info,
                              tensorboard=tensorboard)


def with_input_transform(data: FoldData, cfg: TrainConfig) -> FoldData:
    """The fold's clip datasets with the run's STFT transform (`TrainConfig.stft_transform`) applied to every
    batch: the one place it joins training, validation and test (inference applies it in `Trained.predict`)."""
    fn = map_transform(cfg.stft_transform) if "stft" in cfg.kinds else None
    if fn is None:
        return data

    def wrap(ds):
        if isinstance(ds, online.OnlineClips):  # audio batches: the online step applies the transform itself
            return ds
        if getattr(ds, "transform", None) is not None:
            raise ValueError(f"the fold's datasets already carry a transform; give them in cache units "
                             f"(TrainConfig.stft_transform={cfg.stft_transform!r} is applied here)")
        ds = copy.copy(ds)
        ds.transform = fn
        return ds

    return dataclasses.replace(data, train=wrap(data.train), valid=wrap(data.valid), test=wrap(data.test))


def fold_data(cfg: TrainConfig, corpus, split) -> FoldData:
    """FoldData of a split (train/valid/test track ids) of `corpus` on cfg's kinds, in cache units (the STFT
    transform is `train_and_evaluate`'s); labels = class indices in `corpus.classes` (`Corpus.labels`)."""
    ids = {"train": tuple(split.train), "valid": tuple(split.valid), "test": tuple(split.test)}
    labels = {k: corpus.labels(v) for k, v in ids.items()}
    # Clips spread over each whole track: a budget per track and epoch for training, a bound for evaluation.
    budget = {"train": cfg.train_clips, "valid": cfg.eval_clips, "test": cfg.eval_clips}
    datasets = {k: ClipDataset(corpus.cache, list(v), labels[k], kinds=cfg.kinds, max_clips=budget[k])
                for k, v in ids.items()}
    if cfg.features == "online":  # training clips computed from the audio inside the step (mgc_jax.train.online)
        datasets["train"] = online.OnlineClips.from_corpus(corpus, ids["train"], labels["train"],
                                                           max_clips=cfg.train_clips)
    return FoldData(**datasets, ids=ids, labels=labels, cache=corpus.cache, genres=tuple(corpus.classes))
