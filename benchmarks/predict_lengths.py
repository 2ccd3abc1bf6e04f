"""launch.predict on files of many lengths: XLA compilations and wall time (issue 15, length bucketing), and
peak memory on long files (issue 24: block-wise maps, `--memory`).

Writes --files WAV files of as many different lengths (--min_s to --max_s seconds, evenly spread; a chord
over noise), trains two tiny nets (net_STFT and net_MUSIC, k1=8, one epoch on in-memory maps of the real
widths: the nets only need to exist, their accuracy plays no part), then classifies every file with FUSION2
the way `launch.predict` does (`Classifier.predict` per file) and counts the XLA compilations during that loop
(`jax_log_compiles` records) beside the wall time. The first file's compilations of the nets are included.

    python benchmarks/predict_lengths.py [--files 20] [--min_s 8] [--max_s 65] [--out FILE]

Writes benchmarks/results/predict_lengths.json (git-ignored) unless --out says otherwise.

--memory: writes one WAV per --minutes value (the same chord over noise, 16-bit; --stereo44k: 44.1 kHz stereo,
else 22,050 Hz mono), then runs `python -m launch.predict` with both nets on each under `/usr/bin/time -v`
(a fresh process per file), with every clip and with `--max_clips=18`, and records the peak RSS (maximum
resident set size) and wall time. Writes benchmarks/results/predict_memory.json.

    python benchmarks/predict_lengths.py --memory --minutes 1,10,60,180 [--stereo44k]
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
    ap.add_argument("--out", default=None)
    ap.add_argument("--memory", action="store_true", help="peak RSS of launch.predict on long files")
    ap.add_argument("--minutes", default="1,10,60,180")
    ap.add_argument("--stereo44k", action="store_true")
    args = ap.parse_args()
    results = pathlib.Path(__file__).parent / "results"
    args.out = args.out or str(results / ("predict_memory.json" if args.memory else "predict_lengths.json"))

    from fake_data import make_fold_data, tiny_config
    from mgc_jax.serve.inference import Classifier
    from mgc_jax.train.loop import train_and_evaluate

    work = pathlib.Path(tempfile.mkdtemp(prefix="predict_lengths-"))
    widths = {"music": 8, "stft": 513}
    runs = []
    for net in ("stft", "music"):
        data = make_fold_data((net,), widths=widths)  # the real map widths
        runs.append(train_and_evaluate(tiny_config(net, epochs=1), work / net, data, in_bins=widths).run_dir)
    if args.memory:
        return _memory(args, work, runs)
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


def _write_long(path: pathlib.Path, minutes: float, *, stereo44k: bool) -> None:
    """A WAV of `minutes`, written a minute at a time (the benchmark itself stays small)."""
    rate, channels = (44100, 2) if stereo44k else (22050, 1)
    with sf.SoundFile(path, "w", rate, channels, subtype="PCM_16") as f:
        left = int(round(minutes * 60 * rate))
        i = 0
        while left > 0:
            n = min(left, 60 * rate)
            x = _signal(n, i)
            f.write(np.stack([x] * channels, axis=1) if channels > 1 else x)
            left -= n
            i += 1


def _time_v(cmd: list[str]) -> dict:
    """Peak RSS (MB) and wall time (s) of a command from /usr/bin/time -v, and its exit status."""
    import re
    import subprocess

    env = {**os.environ, "PYTHONPATH": str(pathlib.Path(__file__).resolve().parents[1])}
    proc = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True, env=env)
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr).group(1))
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", proc.stderr).group(1)
    seconds = sum(float(v) * 60 ** i for i, v in enumerate(reversed(wall.split(":"))))
    return {"peak_rss_mb": round(rss_kb / 1024, 1), "wall_s": round(seconds, 1), "returncode": proc.returncode,
            "last_line": (proc.stdout.strip().splitlines() or [""])[0][-200:]}


def _memory(args, work: pathlib.Path, runs) -> None:
    rows = []
    for minutes in [float(m) for m in args.minutes.split(",")]:
        path = work / f"long_{minutes:g}min.wav"
        _write_long(path, minutes, stereo44k=args.stereo44k)
        for extra in ([], ["--max_clips=18"]):
            cmd = [sys.executable, "-m", "launch.predict", f"--checkpoint={runs[0]}", f"--checkpoint={runs[1]}",
                   *extra, str(path)]
            row = {"minutes": minutes, "flags": " ".join(extra), "file_mb": round(path.stat().st_size / 2**20, 1),
                   **_time_v(cmd)}
            rows.append(row)
            print(f"{minutes:6g} min {' '.join(extra) or 'every clip':15s} peak RSS {row['peak_rss_mb']:8.1f} MB, "
                  f"{row['wall_s']:7.1f} s wall, exit {row['returncode']} ({row['last_line']})", flush=True)
        path.unlink()
    result = {"stereo44k": args.stereo44k, "rows": rows, "load_avg": os.getloadavg(), "device": str(jax.devices()[0])}
    pathlib.Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(args.out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
