"""The runs of a workdir side by side (`launch.runs`): one row per run directory, read from its files, with its
status: running (a live process holds its lock), stale (its maps were made by other dsp code than today's),
finished, interrupted or damaged (WORKSPACE.md "Watching runs"). No JAX here.
"""
from __future__ import annotations

import dataclasses
import datetime
import os
import pathlib
import re
from collections.abc import Sequence

from mgc_jax.errors import DataError
from mgc_jax.train import rundir, runlock

STATUSES = ("running", "stale", "finished", "interrupted", "damaged")
COLUMNS = ("corpus", "split", "net", "fold", "seed", "epochs", "status", "valid", "test", "wall", "date")


@dataclasses.dataclass(frozen=True)
class RunRow:
    """One run directory's row (module docstring); None where the run has no such number yet."""

    corpus: str
    split: str  # the split's folder name: "stratified", "stratified-5folds", "manifest", ...
    net: str
    fold: int
    seed: int | None
    epochs: int | None  # finished epochs (None for the baseline)
    planned: int | None  # TrainConfig.epochs of its config.json
    status: str  # a STATUSES entry
    note: str  # who holds the lock, why it is stale or damaged; "" otherwise
    valid_accuracy: float | None
    test_accuracy: float | None
    wall_s: float | None
    date: str  # "YYYY-MM-DD HH:MM" (local time) of its last written file
    run_dir: str


def _fold_number(path: pathlib.Path) -> int | None:
    m = re.fullmatch(r"fold(\d+)", path.name)
    return int(m[1]) if m else None


def run_dirs(workdir) -> list[pathlib.Path]:
    """Every runs/<corpus>/<split>/<net>/fold<k>/ directory of a Workdir, sorted (folds numerically)."""
    found = [d for d in (pathlib.Path(workdir.root) / "runs").glob("*/*/*/fold*")
             if d.is_dir() and _fold_number(d) is not None]
    return sorted(found, key=lambda d: (d.parts[-4:-1], _fold_number(d)))


def run_row(run_dir: str | os.PathLike, *, code_hash: str | None = None) -> RunRow:
    """The row of one run directory. code_hash: today's `dsp.code_hash()` (None: staleness is not checked)."""
    d = pathlib.Path(run_dir)
    corpus, split, net = d.parts[-4:-1]
    place = {"corpus": corpus, "split": split, "net": net, "fold": _fold_number(d), "run_dir": str(d)}
    try:
        config = rundir.read_config(d) if (d / rundir.CONFIG).is_file() else {}
        result = rundir.read_result(d) if (d / rundir.RESULT).is_file() else {}
    except DataError as e:
        return RunRow(**place, seed=None, epochs=None, planned=None, status="damaged", note=str(e),
                      valid_accuracy=None, test_accuracy=None, wall_s=None, date=_date(d))
    train = config.get("train") or {}
    records = rundir.read_metrics(d)
    baseline = "baseline" in config
    status, note = _status(d, config, code_hash)
    valid = result.get("valid_track_acc", records[-1].get("valid_track_acc") if records else None)
    return RunRow(**place, seed=train.get("seed"),
                  epochs=None if baseline else max((int(r.get("epoch", 0)) for r in records), default=0),
                  planned=train.get("epochs"), status=status, note=note, valid_accuracy=valid,
                  test_accuracy=result.get("test_track_acc") if status != "running" else None,
                  wall_s=sum(float(r.get("epoch_s", 0.0)) for r in records) if records else None, date=_date(d))


def _status(d: pathlib.Path, config: dict, code_hash: str | None) -> tuple[str, str]:
    lock = runlock.read_lock(d)
    if lock is not None and runlock.lock_holder_alive(lock) is not False:
        return "running", (f"pid {lock['pid']} on {lock['host']}" if lock["pid"] is not None else "lock being taken")
    saved = config.get("dsp_code")
    if code_hash is not None and saved is not None and saved != code_hash:
        return "stale", f"maps made by dsp code {saved}, today's is {code_hash}"
    return ("finished", "") if rundir.is_finished(d) else ("interrupted", "")


def _date(d: pathlib.Path) -> str:
    times = [p.stat().st_mtime for p in (d / rundir.RESULT, d / rundir.METRICS, d / rundir.CONFIG) if p.is_file()]
    if not times:
        times = [d.stat().st_mtime]
    return datetime.datetime.fromtimestamp(max(times)).strftime("%Y-%m-%d %H:%M")


def list_runs(workdir, *, net: str | None = None, corpus: str | None = None,
              code_hash: str | None = None) -> list[RunRow]:
    """The rows of every run of a Workdir (`run_dirs` order), only those of `net` / `corpus` when given."""
    return [run_row(d, code_hash=code_hash) for d in run_dirs(workdir)
            if (net is None or d.parts[-2] == net) and (corpus is None or d.parts[-4] == corpus)]


def _fmt_wall(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    m, s = divmod(round(seconds), 60)
    return f"{m // 60}h{m % 60:02d}m" if m >= 60 else f"{m}m{s:02d}s"


def _fmt_acc(x: float | None) -> str:
    return "–" if x is None else f"{x:.3f}"


def _cells(r: RunRow) -> list[str]:
    epochs = "–" if r.epochs is None else f"{r.epochs}/{r.planned if r.planned is not None else '?'}"
    status = f"{r.status} ({r.note})" if r.note and r.status in ("running", "stale") else r.status
    return [r.corpus, r.split, r.net, str(r.fold), "–" if r.seed is None else str(r.seed), epochs, status,
            _fmt_acc(r.valid_accuracy), _fmt_acc(r.test_accuracy), _fmt_wall(r.wall_s), r.date]


def markdown_table(rows: Sequence[RunRow]) -> str:
    """The rows as a markdown table (COLUMNS; "|" in names escaped), one line per run, then the notes of
    damaged runs."""
    def line(cells):
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    out = [line(COLUMNS), "|" + "|".join("---" if c in COLUMNS[:3] + ("status", "date") else "--:"
                                         for c in COLUMNS) + "|"]
    out += [line(_cells(r)) for r in rows]
    notes = [f"{r.run_dir}: {r.note}" for r in rows if r.status == "damaged"]
    return "\n".join(out) + "\n" + ("\n" + "\n".join(notes) + "\n" if notes else "")


def as_json(rows: Sequence[RunRow]) -> list[dict]:
    return [dataclasses.asdict(r) for r in rows]
