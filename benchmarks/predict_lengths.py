"""launch.predict on files of many lengths: XLA compilations and wall time (issue 15, length bucketing).

Writes --files WAV files of as many different lengths (--min_s to --max_s seconds, evenly spread; a chord
over noise), trains two tiny nets (net_STFT and net_MUSIC, k1=8, one epoch on in-memory maps of the real
widths: the nets only need to exist, their accuracy plays no part), then classifies every file with FUSION2
the way `launch.predict` does (`Classifier.predict` per file) and counts the XLA compilations during that loop
(`jax_log_compiles` records) beside the wall time. The first file's compilations of the nets are included.

    python benchmarks/predict_lengths.py [--files 20] [--min_s 8] [--max_s 65] [--out FILE]

Writes benchmarks/results/predict_lengths.json (git-ignored) unless --out says otherwise.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import pathlib
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests" / "support"))

import jax  # noqa: E402
import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402


class _CountCompiles(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.names: list[str] = []

    def emit(self, record):
        message = record.getMessage()
        if message.startswith("Finished XLA compilation of "):
            self.names.append(message.split(" in ")[0][len("Finished XLA compilation of "):])


def _signal(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 22050
    chord = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6)) / 6
    return (chord + 0.02 * rng.standard_normal(n)).astype(np.float32)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=20)
    ap.add_argument("--min_s", type=float, default=8.0)
    ap.add_argument("--max_s", type=float, default=65.0)
    ap.add_argument("--out", default=str(pathlib.Path(__file__).parent / "results" / "predict_lengths.json"))
    args = ap.parse_args()

    from fake_data import make_fold_data, tiny_config

    from mgc_jax.serve.inference import Classifier
    from mgc_jax.train.loop import train_and_evaluate

    work = pathlib.Path(tempfile.mkdtemp(prefix="predict_lengths-"))
    widths = {"music": 8, "stft": 513}
    runs = []
    for net in ("stft", "music"):
        data = make_fold_data((net,), widths=widths)  # the real map widths
        runs.append(train_and_evaluate(tiny_config(net, epochs=1), work / net, data, in_bins=widths).run_dir)
    seconds = np.linspace(args.min_s, args.max_s, args.files)
    paths = []
    for i, s in enumerate(seconds):
        paths.append(work / f"song{i:02d}.wav")
        sf.write(paths[-1], _signal(int(round(s * 22050)), i), 22050, subtype="PCM_16")
    clf = Classifier.from_checkpoint(*runs)

    counter = _CountCompiles()
    jax_logger = logging.getLogger("jax")
    jax_logger.addHandler(counter)
    level = jax_logger.level
    jax_logger.setLevel(logging.DEBUG)
    jax_logger.propagate = False  # counted here, not printed
    jax.config.update("jax_log_compiles", True)
    t0 = time.perf_counter()
    genres = [clf.predict(p).genre for p in paths]
    wall = time.perf_counter() - t0
    jax.config.update("jax_log_compiles", False)
    jax_logger.removeHandler(counter)
    jax_logger.propagate = True
    jax_logger.setLevel(level)

    result = {"files": args.files, "seconds": [round(float(s), 3) for s in seconds], "wall_s": round(wall, 2),
              "compilations": len(counter.names), "compiled": sorted(set(counter.names)),
              "compiled_counts": {n: counter.names.count(n) for n in sorted(set(counter.names))},
              "load_avg": os.getloadavg(), "genres": genres, "device": str(jax.devices()[0])}
    pathlib.Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(f"{args.files} files of {args.min_s:g}-{args.max_s:g} s: {len(counter.names)} XLA compilations, "
          f"{wall:.1f} s wall (load average {os.getloadavg()[0]:.1f})")
    for name, count in result["compiled_counts"].items():
        print(f"  {count:3d} x {name}")


if __name__ == "__main__":
    main()
