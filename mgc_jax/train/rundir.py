"""The files of a run directory, the one home of their format: config.json, metrics.jsonl, test_probs.npz,
result.json (checkpoints/ belongs to `mgc_jax.train.checkpoint`, train.lock to `mgc_jax.train.runlock`, the
TensorBoard events to `mgc_jax.train.summaries`).
"""
from __future__ import annotations

import json
import os
import pathlib
import zipfile
import zlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from mgc_jax.config import N_FOLDS, TrainConfig
from mgc_jax.data.gtzan import GENRES
from mgc_jax.errors import DataError, DiskFullError, is_disk_full
from mgc_jax.workdir import atomic_write, write_json

CONFIG = "config.json"
METRICS = "metrics.jsonl"
CHECKPOINTS = "checkpoints"
TEST_PROBS = "test_probs.npz"
RESULT = "result.json"
TEST_PROBS_KEYS = ("track_ids", "labels", "probs", "n_clips", "genres")
# Config fields that may change when a run is resumed: training longer (or up to a later epoch) keeps every
# finished epoch valid because batch order and dropout keys depend only on (seed, epoch).
RESUMABLE_FIELDS = ("train.epochs",)


def _path(run_dir, name: str) -> pathlib.Path:
    return pathlib.Path(run_dir) / name


def is_finished(run_dir: str | os.PathLike) -> bool:
    """A run is finished when its test_probs.npz exists (written last, atomically)."""
    return _path(run_dir, TEST_PROBS).is_file()


# ------------------------------------------------------------------------------------------- config


def _flatten(d: Mapping, prefix: str = "") -> dict[str, Any]:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def _kind_of_old_run(flat: Mapping) -> str:
    return "synthetic" if flat.get("corpus") == "synthetic" else "gtzan"


# Dotted field -> its value in a run saved before the field existed (a function of the saved flat config).
# Recorded since a version whose runs lacked them, with no value to assume for those runs: compared only where the
# saved config has them (an old run resumes as before, unchecked on that field).
UNRECORDED_BEFORE = ("audio_sha256", "dsp_code", "features_hash")

LEGACY = {
    "classes": lambda flat: list(GENRES),
    "corpus_kind": _kind_of_old_run,
    "train.n_folds": lambda flat: N_FOLDS,
    "train.stft_transform": lambda flat: "none",
    "train.select": lambda flat: "best_valid",
    "train.features": lambda flat: "cached",
    "train.augment": lambda flat: [],
    "train.crops": lambda flat: "grid",
    "train.train_clips": lambda flat: 18,  # runs before whole tracks took each track's first 18 clips
    "train.eval_clips": lambda flat: 18,
    "train.mixup": lambda flat: 0.0,
    "train.model.stft_bands": lambda flat: 0,
    "train.lr_schedule": lambda flat: "exponential",  # runs before the cosine default: the lr_decay rule
}


def train_config(config: Mapping) -> TrainConfig:
    """The TrainConfig a run's config.json records; `LEGACY` train fields it lacks read as the old runs' values
    (not today's defaults, which may differ)."""
    saved = dict(config["train"])
    saved["model"] = dict(saved.get("model", {}))
    for key, value in LEGACY.items():
        if not key.startswith("train."):
            continue
        *parents, field = key.split(".")[1:]  # "train.model.stft_bands" -> ["model"], "stft_bands"
        into = saved if not parents else saved[parents[0]]
        if field not in into:
            into[field] = value(saved)
    return TrainConfig.from_dict(saved)


def config_diff(saved: Mapping, current: Mapping, *, ignore: Iterable[str] = ()) -> list[tuple[str, Any, Any]]:
    """Fields (dotted paths into nested dicts) whose values differ: [(field, saved, current)], sorted.

    A field present on one side only is reported with the string "<absent>" on the other, except a `LEGACY`
    field absent from `saved` (an old run's config), which reads as its legacy value, and an `UNRECORDED_BEFORE`
    field absent from `saved`, which is not compared. Tuples and lists
    compare equal (JSON turns one into the other).
    """
    a, b, skip = _flatten(saved), _flatten(current), set(ignore)
    skip.update(k for k in UNRECORDED_BEFORE if k not in a)
    for key, value in LEGACY.items():
        if key not in a and key in b:
            a[key] = value(a)
    norm = lambda v: list(v) if isinstance(v, tuple) else v  # noqa: E731
    return [(k, a.get(k, "<absent>"), b.get(k, "<absent>")) for k in sorted(set(a) | set(b))
            if k not in skip and norm(a.get(k, "<absent>")) != norm(b.get(k, "<absent>"))]


def describe_diff(diff: list[tuple[str, Any, Any]]) -> str:
    """One line: 'model.k1: 128 (saved) != 256 (now); ...'."""
    return "; ".join(f"{k}: {s!r} (saved) != {c!r} (now)" for k, s, c in diff)


def config_mismatch(saved: Mapping, current: Mapping, *, ignore: Iterable[str] = RESUMABLE_FIELDS) -> str:
    """'' when two run configs agree (fields in `ignore` may differ: `resumable`), else `describe_diff`'s line."""
    return describe_diff(config_diff(saved, current, ignore=resumable(saved, current, ignore)))


def resumable(saved: Mapping, current: Mapping, ignore: Iterable[str]) -> tuple[str, ...]:
    """The fields of `ignore` that may differ between these two configs: not train.epochs when either trains on a
    cosine schedule, which spreads over the run's epochs (so its finished epochs hold only for the same total)."""
    cosine = "cosine" in (saved.get("train", {}).get("lr_schedule"), current.get("train", {}).get("lr_schedule"))
    return tuple(f for f in ignore if not (cosine and f == "train.epochs"))


def read_config(run_dir: str | os.PathLike) -> dict:
    """config.json as a dict; DataError naming the file when it is missing, not JSON or not an object."""
    return _read_object(_path(run_dir, CONFIG), "run config")


# What to do about a damaged run file, said in the one line that names it (`damaged`).
_REDO = {
    CONFIG: "delete it and run launch.train again with the run's flags (its checkpoints keep the config and are "
            "checked against the new one)",
    RESULT: "run launch.train again with the run's flags: it rewrites result.json from the run's checkpoints",
    TEST_PROBS: "run launch.train again with the run's flags: training the run again re-classifies its test "
                "tracks from its checkpoints (or delete the run directory to train it anew)",
}


def damaged(path: pathlib.Path, what: str, cause: BaseException | str) -> DataError:
    """DataError "PATH: damaged WHAT (cause); what to do" of a run file, in one line whatever the cause's text."""
    if isinstance(cause, BaseException):
        cause = (cause.strerror if isinstance(cause, OSError) and cause.strerror else str(cause)) or \
            type(cause).__name__
    cause = " ".join(str(cause).split())[:200]
    redo = _REDO.get(path.name, "delete it and run the command that made it again")
    return DataError(f"{path}: damaged {what} ({cause}); {redo}")


def _read_object(path: pathlib.Path, what: str) -> dict:
    """A run file's JSON object; a missing file says so, any other failure is `damaged`."""
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: missing ({what})") from None
    except OSError as e:
        raise DataError(f"{path}: unreadable {what} ({e.strerror or e})") from e
    try:
        obj = json.loads(text)
    except ValueError as e:  # JSONDecodeError and UnicodeDecodeError
        raise damaged(path, what, f"not valid JSON: {type(e).__name__}") from e
    if not isinstance(obj, dict):
        raise damaged(path, what, f"a JSON {type(obj).__name__}, not an object")
    return obj


def write_config(run_dir: str | os.PathLike, config: Mapping) -> None:
    write_json(_path(run_dir, CONFIG), config)


def saved_config_mismatch(run_dir: str | os.PathLike, config: Mapping) -> str | None:
    """None when the run directory has no config.json yet, else `config_mismatch(saved, config)`.

    Raises DataError (from `read_config`) when the saved config is unreadable.
    """
    if not _path(run_dir, CONFIG).exists():
        return None
    return config_mismatch(read_config(run_dir), config)


# ------------------------------------------------------------------------------------------ metrics


def read_metrics(run_dir: str | os.PathLike, *, upto: int | None = None) -> list[dict]:
    """metrics.jsonl's records (of epochs <= upto when given); lines cut by a kill are skipped."""
    path = _path(run_dir, METRICS)
    if not path.exists():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
        except ValueError:  # a line cut by a kill
            continue
        if upto is None or rec.get("epoch", upto + 1) <= upto:
            records.append(rec)
    return records


def write_metrics(run_dir: str | os.PathLike, records: Sequence[Mapping]) -> None:
    """Replace metrics.jsonl by `records` (on resume: the epochs that have a checkpoint), atomically."""
    with atomic_write(_path(run_dir, METRICS), "w") as f:
        f.write("".join(json.dumps(r) + "\n" for r in records))


def append_metrics(run_dir: str | os.PathLike, record: Mapping) -> None:
    """Append one epoch's line (a kill or a full disk mid-line leaves a line `read_metrics` skips, and resuming
    rewrites the file from the checkpointed epochs)."""
    path = _path(run_dir, METRICS)
    try:
        with open(path, "a") as f:
            f.write(json.dumps(record) + "\n")
    except OSError as e:
        if is_disk_full(e):
            raise DiskFullError(path) from e
        raise


# --------------------------------------------------------------------------------------- test probs


class FoldProbs(NamedTuple):
    """The test tracks of one run: ids str [N], labels int32 [N], probs: N arrays float32 [n_clips_i, C], genres [C]."""

    track_ids: tuple[str, ...]
    labels: np.ndarray
    probs: tuple[np.ndarray, ...]
    genres: tuple[str, ...]


def write_test_probs(path: str | os.PathLike, track_ids: Sequence[str], labels: np.ndarray,
                     track_probs: Sequence[np.ndarray], genres: Sequence[str]) -> None:
    """test_probs.npz at `path` (a run directory's TEST_PROBS): track_ids str [N], labels int32 [N],
    probs float32 [N, C_max, C] (NaN past a track's clip count), n_clips int32 [N], genres str [C].
    Written atomically with fsync."""
    n_clips = np.array([len(p) for p in track_probs], np.int32)
    probs = np.full((len(track_probs), int(n_clips.max(initial=0)), len(genres)), np.nan, np.float32)
    for i, p in enumerate(track_probs):
        probs[i, : len(p)] = p
    with atomic_write(path) as f:
        np.savez(f, track_ids=np.asarray(track_ids, dtype=str), labels=np.asarray(labels, np.int32), probs=probs,
                 n_clips=n_clips, genres=np.asarray(genres, dtype=str))


def read_test_probs(path: str | os.PathLike) -> FoldProbs:
    """Read a test_probs.npz file or the one of a run directory (rows past a track's n_clips are dropped).

    Raises DataError naming the file when it is unreadable or inconsistent.
    """
    path = pathlib.Path(path)
    if path.is_dir():
        path = path / TEST_PROBS
    if not path.is_file():
        raise DataError(f"{path}: missing (no test probabilities: the run is unfinished or was never trained)")
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in TEST_PROBS_KEYS if k not in z.files]
            if missing:
                raise damaged(path, "test probabilities", f"missing {', '.join(missing)}")
            ids, labels, probs, n_clips, genres = (z[k] for k in TEST_PROBS_KEYS)
    except DataError:
        raise
    # A flipped byte gives zipfile.BadZipFile ("Bad CRC-32"), a cut file "File is not a zip file" or an EOFError,
    # a damaged deflate stream zlib.error.
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        raise damaged(path, "test probabilities", e) from e
    n = len(ids)
    if labels.shape != (n,) or n_clips.shape != (n,) or probs.ndim != 3 or probs.shape[0] != n \
            or probs.shape[2] != len(genres) or (n_clips > probs.shape[1]).any() or (n_clips < 1).any():
        raise damaged(path, "test probabilities", f"inconsistent shapes: track_ids {ids.shape}, labels {labels.shape}, "
                      f"probs {probs.shape}, n_clips {n_clips.shape}, genres {genres.shape}")
    rows = tuple(probs[i, : n_clips[i]] for i in range(n))
    if not all(np.isfinite(r).all() for r in rows):
        raise damaged(path, "test probabilities", "non-finite clip probabilities")
    return FoldProbs(tuple(str(t) for t in ids), labels.astype(np.int32), rows, tuple(str(g) for g in genres))


def read_genres(run_dir: str | os.PathLike) -> tuple[str, ...] | None:
    """The genre names saved with a run's test probabilities, None when the run has none."""
    path = _path(run_dir, TEST_PROBS)
    if not path.is_file():
        return None
    return read_test_probs(path).genres


def run_classes(run_dir: str | os.PathLike) -> tuple[str, ...]:
    """A run's class names in label order: config.json's "classes", else its test probabilities' genres,
    else (an old run that recorded neither) GTZAN's ten GENRES."""
    if _path(run_dir, CONFIG).is_file():
        classes = read_config(run_dir).get("classes")
        if classes is not None:
            return tuple(str(c) for c in classes)
    return read_genres(run_dir) or tuple(GENRES)


def run_corpus_kind(config: Mapping) -> str:
    """The corpus kind ("gtzan", "folder", "manifest", "synthetic") a run's config.json records (`LEGACY`
    for runs saved before it was recorded)."""
    return str(config.get("corpus_kind") or _kind_of_old_run(config))


# ------------------------------------------------------------------------------------------- result


def write_result(run_dir: str | os.PathLike, result: Mapping) -> None:
    write_json(_path(run_dir, RESULT), result)


def read_result(run_dir: str | os.PathLike) -> dict:
    """result.json as a dict whose "best_epoch" and "epochs", where present, are ints >= 1 (a net's run has a
    best epoch; the baseline's has none); DataError naming the file otherwise."""
    path = _path(run_dir, RESULT)
    result = _read_object(path, "run result")
    for key in ("best_epoch", "epochs"):
        value = result.get(key)
        if key in result and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise damaged(path, "run result", f"{key} is {value!r}, not an epoch number")
    return result
