"""What the TensorBoard events (`mgc_jax.train.summaries`) cost a training run, against its epoch time.

Trains one run with `mgc_jax.train.loop.run` on the built-in synthetic corpus (made and extracted in a temporary
workdir; `--tracks_per_genre` tracks of every genre) with the events on, timing every call the loop makes into
`summaries.RunSummaries` (opening: reading back the steps already logged; `start`: hparams; `epochs`: the
scalars of one epoch and a flush; `finish`: test scalars, the confusion image and the feature-map images;
closing). The per-epoch cost is `epochs` + its share of nothing else; the one-off costs are reported against the
whole run. The same run is then trained again with the events off (another run directory), and the mean epoch
times of the two are printed side by side (on a shared machine that difference is mostly noise: the timed
calls are the measurement).

    python benchmarks/tensorboard_cost.py [--net music] [--k1 256] [--epochs 3] [--tracks_per_genre 10]

Writes benchmarks/results/tensorboard_cost.json (git-ignored).
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import pathlib
import platform
import sys
import tempfile
import time
from collections import defaultdict

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import jax  # noqa: E402
import numpy as np  # noqa: E402

from mgc_jax.config import ModelConfig, TrainConfig  # noqa: E402
from mgc_jax.data.corpus import prepare_corpus  # noqa: E402
from mgc_jax.train import loop, rundir, summaries  # noqa: E402
from mgc_jax.workdir import Workdir  # noqa: E402

TIMED = ("__init__", "start", "epochs", "finish", "close")


def instrument(times: dict) -> None:
    """Wrap RunSummaries' methods so each call's wall time is appended to times[name]."""
    for name in TIMED:
        fn = getattr(summaries.RunSummaries, name)

        @functools.wraps(fn)
        def timed(*a, _fn=fn, _name=name, **k):
            t0 = time.perf_counter()
            try:
                return _fn(*a, **k)
            finally:
                times[_name].append(time.perf_counter() - t0)

        setattr(summaries.RunSummaries, name, timed)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--net", default="music")
    ap.add_argument("--k1", type=int, default=256)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--tracks_per_genre", type=int, default=10)
    ap.add_argument("--out", default="benchmarks/results/tensorboard_cost.json")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        wd = Workdir(tmp)
        corpus = prepare_corpus(None, wd, tracks_per_genre=args.tracks_per_genre, progress=False)
        cfg = TrainConfig(net=args.net, fold=0, epochs=args.epochs, model=ModelConfig(k1=args.k1))
        times: dict = defaultdict(list)
        instrument(times)
        t0 = time.perf_counter()
        on = loop.run(cfg, wd, corpus, tensorboard=True)
        wall_on = time.perf_counter() - t0
        epochs_on = [r["epoch_s"] for r in rundir.read_metrics(on.run_dir)]
        events_bytes = sum(p.stat().st_size for p in on.run_dir.glob("events.out.tfevents.*"))
        off = loop.run(cfg.for_run(args.net, 1), wd, corpus, tensorboard=False)
        epochs_off = [r["epoch_s"] for r in rundir.read_metrics(off.run_dir)]

    per_epoch = times["epochs"][1:]  # the first call is start()'s (no record on a fresh run)
    once = sum(sum(times[k]) for k in ("__init__", "start", "finish", "close"))
    out = {
        "net": args.net, "k1": args.k1, "epochs": args.epochs, "tracks_per_genre": args.tracks_per_genre,
        "epoch_s_mean": float(np.mean(epochs_on)), "events_per_epoch_ms": 1e3 * float(np.mean(per_epoch)),
        "events_per_epoch_pct": 100 * float(np.mean(per_epoch)) / float(np.mean(epochs_on)),
        "events_once_s": {k: float(sum(times[k])) for k in ("__init__", "start", "finish", "close")},
        "events_total_pct_of_run": 100 * (once + sum(per_epoch)) / wall_on, "run_wall_s": wall_on,
        "event_file_bytes": events_bytes, "epoch_s_mean_off": float(np.mean(epochs_off)),
        "devices": [str(d) for d in jax.devices()], "load_avg": os.getloadavg(), "python": platform.python_version(),
    }
    path = pathlib.Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"| net | epoch s | events per epoch | % of epoch | once (open, start, finish, close) | % of run "
          f"| epoch s, events off |\n|---|--:|--:|--:|--:|--:|--:|\n"
          f"| {args.net} k1={args.k1} | {out['epoch_s_mean']:.2f} | {out['events_per_epoch_ms']:.1f} ms "
          f"| {out['events_per_epoch_pct']:.2f} % | {once:.2f} s | {out['events_total_pct_of_run']:.2f} % "
          f"| {out['epoch_s_mean_off']:.2f} |")
    print(f"devices {out['devices']}, load average {out['load_avg']}, event files {events_bytes} bytes; wrote {path}")


if __name__ == "__main__":
    main()
