"""Orbax checkpoints of one run (atomic saves, the last N plus the best kept, config and digest checked on
restore) and the checkpointed state tree: model, optimizer, epoch, RNG key and standardiser.
"""
from __future__ import annotations

import hashlib
import json
import logging as py_logging
import os
import pathlib
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from orbax.checkpoint.experimental import v1 as ocp

from mgc_jax.config import TrainConfig
from mgc_jax.distributed import check_backend
from mgc_jax.errors import DataError, DiskFullError, is_disk_full
from mgc_jax.nets.models import DEFAULT_RATE, build_model
from mgc_jax.nets.standardize import Standardizer
from mgc_jax.train import rundir
from mgc_jax.train.steps import make_optimizer

_policies = ocp.training.preservation_policies


class _QuietOrbax(py_logging.Filter):
    """Drops orbax's INFO/DEBUG records (dozens per save) from the absl logger; warnings pass, except the
    "Failed to get metadata" ones orbax logs per item of a damaged step before raising what `restore` reports."""

    def filter(self, record: py_logging.LogRecord) -> bool:
        if f"{os.sep}orbax{os.sep}" not in record.pathname:
            return True
        if record.levelno < py_logging.WARNING:
            return False
        return not (record.levelno == py_logging.WARNING and "Failed to get metadata" in record.getMessage())


class _QuietAbandonedReads(py_logging.Filter):
    """Drops asyncio's "Task/Future exception was never retrieved" records of orbax's tensorstore reads, which a
    damaged checkpoint aborts (pages of JSON specs); `restore` reports the damage in one line."""

    def filter(self, record: py_logging.LogRecord) -> bool:
        message = record.getMessage()
        if "exception was never retrieved" not in message:
            return True
        if record.exc_info:
            message += py_logging.Formatter().formatException(record.exc_info)
        return not ("orbax" in message or "tensorstore" in message)


def quiet_orbax() -> None:
    """Install the orbax log filters on the absl and asyncio loggers (idempotent)."""
    for name, kind in (("absl", _QuietOrbax), ("asyncio", _QuietAbandonedReads)):
        logger = py_logging.getLogger(name)
        if not any(isinstance(f, kind) for f in logger.filters):
            logger.addFilter(kind())


class CheckpointError(DataError):
    """A checkpoint that cannot be used: unreadable, damaged, or saved under an incompatible config."""


def abstract_of(tree: Any) -> Any:
    """The abstract version of a pytree of arrays or ShapeDtypeStructs, placed on the default device.

    The explicit sharding makes restores independent of the device the checkpoint was written on.
    """
    sharding = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])  # this process's (multi-process runs)
    return jax.tree.map(lambda a: jax.ShapeDtypeStruct(np.shape(a), a.dtype, sharding=sharding), tree)


def tree_digest(tree: Any) -> str:
    """SHA-256 (hex) over a pytree's leaf paths, dtypes, shapes and bytes, in flattening order."""
    h = hashlib.sha256()
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        arr = np.ascontiguousarray(np.asarray(leaf))
        h.update(f"{jax.tree_util.keystr(path)}|{arr.dtype.str}|{arr.shape}|".encode())
        h.update(arr.tobytes())
    return h.hexdigest()


class RunCheckpoints:
    """The checkpoints of one run directory (orbax V1 Checkpointer). Use as a context manager.

    Args:
      directory: where step directories `<epoch>/` live (created if needed).
      config: JSON-able dict describing the run; saved with every checkpoint and compared on restore.
      score: metrics dict -> sortable key; the checkpoint with the largest key is "best" and always kept.
        Make it tie-free (e.g. end with -epoch) so the kept one is the one `best_step` names.
      keep_last: how many of the latest checkpoints to keep besides the best.
      ignore_fields: config fields (dotted) allowed to differ on restore, e.g. "train.epochs".
    """

    def __init__(self, directory: str | os.PathLike, *, config: Mapping, score: Callable[[Mapping], Any],
                 keep_last: int = 2, ignore_fields: Iterable[str] = ()):
        quiet_orbax()
        check_backend()  # orbax would fail on it too, and the error would read as a checkpoint's
        self.directory = os.fspath(directory)
        self.config = dict(config)
        self.score = score
        self.ignore_fields = tuple(ignore_fields)
        if os.path.exists(self.directory) and not os.path.isdir(self.directory):
            raise CheckpointError(f"{self.directory}: not a directory (expected a run's checkpoint directory)")
        policy = _policies.AnyPreservationPolicy(
            [_policies.LatestN(n=keep_last), _policies.BestN(get_metric_fn=score, n=1)])
        try:
            self._ckptr = ocp.training.Checkpointer(
                self.directory, preservation_policy=policy, cleanup_tmp_directories=True)
        except Exception as e:  # noqa: BLE001 - orbax raises many types; all mean "unusable directory"
            damaged = damaged_steps(self.directory)
            cause = (f"damaged step directories: {', '.join(damaged)}; delete them to use the others" if damaged
                     else _cause(e))
            raise CheckpointError(f"{self.directory}: cannot open checkpoint directory ({cause})") from e

    def __enter__(self) -> "RunCheckpoints":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._ckptr.close()

    def step_dir(self, step: int) -> str:
        return os.path.join(self.directory, str(step))

    def steps(self) -> list[int]:
        """Finalized checkpoint steps, ascending (tmp dirs of interrupted saves are not listed)."""
        return sorted(c.step for c in self._ckptr.checkpoints)

    def latest_step(self) -> int | None:
        latest = self._ckptr.latest
        return None if latest is None else latest.step

    def best_step(self) -> int | None:
        """The kept step with the largest `score(metrics)` (None when there is none)."""
        scored = [(self.score(c.metrics), c.step) for c in self._ckptr.checkpoints if c.metrics is not None]
        return max(scored)[1] if scored else None

    def metrics(self, step: int) -> dict:
        return dict(self._read_metadata(step).metrics or {})

    def save(self, step: int, state: Any, *, metrics: Mapping) -> None:
        """Save `state` (a pytree of arrays) as `step`, blocking until it is finalized on disk."""
        state = jax.tree.map(jax.numpy.asarray, state)  # orbax V1 saves jax arrays (not numpy scalars)
        meta = {"config": self.config, "digest": tree_digest(jax.device_get(state))}
        try:
            self._ckptr.save(step, state, metrics=dict(metrics), custom_metadata=meta)
        except Exception as e:  # noqa: BLE001 - orbax: ValueError("RESOURCE_EXHAUSTED: ... No space left on device")
            if is_disk_full(e):  # its tmp directory is never listed and goes on the next open: the rerun resumes
                raise DiskFullError(self.step_dir(step)) from e
            raise

    def _read_metadata(self, step: int):
        try:
            return self._ckptr.metadata(step)
        except Exception as e:  # noqa: BLE001
            raise CheckpointError(f"{self.step_dir(step)}: damaged checkpoint (its metadata cannot be read: "
                                  f"{_cause(e)}); {_DELETE_HINT}") from e

    def check_config(self, step: int) -> None:
        """Raise CheckpointError naming every field where `step`'s saved config differs from this run's."""
        saved = (self._read_metadata(step).custom_metadata or {}).get("config")
        if saved is None:
            # orbax logs and skips an unreadable step metadata file, which then looks like one without a config
            problem = _step_metadata_problem(self.step_dir(step))
            if problem is not None:
                raise CheckpointError(f"{self.step_dir(step)}: damaged checkpoint ({problem}); delete this directory "
                                      "to resume from an earlier checkpoint")
            raise CheckpointError(f"{self.step_dir(step)}: checkpoint has no saved config (not written by mgc_jax?)")
        diff = rundir.config_diff(saved, self.config,
                                  ignore=rundir.resumable(saved, self.config, self.ignore_fields))
        if diff:
            raise CheckpointError(f"{self.step_dir(step)}: checkpoint config differs from this run: {rundir.describe_diff(diff)}")

    def restore(self, step: int, abstract_state: Any) -> Any:
        """Load `step` against `abstract_state` after checking its config; verify its digest.

        Raises CheckpointError (naming the directory) if the config differs, the files cannot be read, or
        the arrays read do not match the digest recorded at save time.
        """
        self.check_config(step)
        expected = (self._read_metadata(step).custom_metadata or {}).get("digest")
        try:
            state = self._ckptr.load(step, abstract_of(abstract_state))
        except Exception as e:  # noqa: BLE001 - orbax/tensorstore messages span pages; the chain keeps them
            raise CheckpointError(f"{self.step_dir(step)}: damaged checkpoint (its array files cannot be read); "
                                  f"{_DELETE_HINT}") from e
        if expected != tree_digest(jax.device_get(state)):
            raise CheckpointError(f"{self.step_dir(step)}: damaged checkpoint (its arrays do not match the digest "
                                  f"recorded when it was saved); {_DELETE_HINT}")
        return state


STEP_METADATA = "_CHECKPOINT_METADATA"  # orbax's per-step JSON (metrics, custom metadata with our config and digest)


def _json_problem(step_dir: str, name: str) -> str | None:
    """None if `step_dir/name` holds valid JSON, else what is wrong with it."""
    try:
        with open(os.path.join(step_dir, name), "rb") as f:
            json.loads(f.read().decode("utf-8"))
    except FileNotFoundError:
        return f"{name} is missing"
    except (OSError, ValueError) as e:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return f"{name} is not valid JSON ({type(e).__name__})"
    return None


def _step_metadata_problem(step_dir: str) -> str | None:
    """What is wrong with a step directory's JSON files (its metadata, and its metrics if present), or None."""
    problem = _json_problem(step_dir, STEP_METADATA)
    if problem is None and os.path.exists(os.path.join(step_dir, "metrics", "metrics")):
        problem = _json_problem(step_dir, os.path.join("metrics", "metrics"))
    return problem


def damaged_steps(directory: str | os.PathLike) -> list[str]:
    """Step directories (named by their step number) under `directory` whose JSON files do not parse."""
    try:
        names = sorted((n for n in os.listdir(directory) if n.isdigit()), key=int)
    except OSError:
        return []
    return [n for n in names
            if os.path.isdir(os.path.join(directory, n)) and _step_metadata_problem(os.path.join(directory, n))]


_DELETE_HINT = "delete this directory to resume from an earlier checkpoint"


def _cause(e: BaseException) -> str:
    """A short cause: an OSError's own words, else the exception type and the tensorstore status code if any.

    orbax and tensorstore messages name handler classes, registries and JSON specs over pages; the one line a
    user reads names the checkpoint and says "damaged", the full text stays in the exception chain.
    """
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    status = re.match(r"\s*([A-Z][A-Z_]{3,}):", str(e))  # e.g. DATA_LOSS, OUT_OF_RANGE
    return f"{type(e).__name__} {status.group(1)}" if status else type(e).__name__


# ------------------------------------------------------------------------ the checkpointed state tree


def sample_rate_of(config: Mapping) -> int:
    """The audio rate of a run's maps, from its config.json dict (its "features" entry; older runs: the default)."""
    return int(config.get("features", {}).get("sample_rate", DEFAULT_RATE))


def fresh_state(cfg: TrainConfig, in_bins: Mapping[str, int], sample_rate: int = DEFAULT_RATE
                ) -> tuple[nnx.Module, nnx.Optimizer]:
    """Model (initialised from cfg.seed) and its optimizer."""
    model = build_model(cfg.net, cfg.model, rngs=nnx.Rngs(params=cfg.seed), in_bins=in_bins, sample_rate=sample_rate)
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


def abstract_state_tree(cfg: TrainConfig, in_bins: Mapping[str, int], sample_rate: int = DEFAULT_RATE) -> dict:
    """`state_tree`'s structure with ShapeDtypeStruct leaves, built with nnx.eval_shape (no allocation)."""
    model, optimizer = nnx.eval_shape(lambda: fresh_state(cfg, in_bins, sample_rate))
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


def model_from_tree(cfg: TrainConfig, in_bins: Mapping[str, int], tree: Mapping, sample_rate: int = DEFAULT_RATE):
    """(eval-mode model, standardizer or None) from a restored tree, built without a first initialisation."""
    graphdef, params = nnx.split(nnx.eval_shape(
        lambda: build_model(cfg.net, cfg.model, rngs=nnx.Rngs(0), in_bins=in_bins, sample_rate=sample_rate)))
    nnx.replace_by_pure_dict(params, tree["model"])
    model = nnx.merge(graphdef, params)
    model.eval()
    std = Standardizer.from_tree(jax.device_get(tree["standardizer"])) if "standardizer" in tree else None
    return model, std


def best_score(metrics: Mapping) -> tuple:
    """Checkpoint ranking: validation track accuracy, then clip accuracy, then lower loss, then earlier epoch."""
    return (metrics["valid_track_acc"], metrics["valid_clip_acc"], -metrics["valid_loss"], -metrics["epoch"])


def open_checkpoints(run_dir: pathlib.Path, config: Mapping, *, keep_last: int = 2) -> RunCheckpoints:
    # Absolute: orbax refuses relative paths when several processes write one checkpoint.
    return RunCheckpoints(pathlib.Path(run_dir).absolute() / rundir.CHECKPOINTS, config=config, score=best_score,
                          keep_last=keep_last, ignore_fields=rundir.RESUMABLE_FIELDS)
