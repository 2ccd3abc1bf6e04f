"""Tagging a library with launch.predict --output: audio-hours per hour, beside extraction alone (issue 24).

Writes --files WAV files of --seconds each (a chord over noise, 22,050 Hz mono 16-bit; --real copies the
../shared/gtzan_mini tracks instead) into a nested folder, trains two tiny nets (net_STFT and net_MUSIC, k1=8,
one epoch on in-memory maps: their accuracy plays no part, their cost per clip is the paper's architecture at
k1=8), then times, each in a fresh process:
- tag: `python -m launch.predict --checkpoint=STFT --checkpoint=MUSIC --output=tags.csv FOLDER` (decode, both
  maps, both nets on every clip, FUSION2, one CSV row per file);
- extract: the same files decoded and both maps computed (`audio.load` + `maps.track_maps`), nothing else.
Throughput = audio hours / wall hours. The machine's cores and load average are recorded (the dev box has 2
cores shared with other jobs: a busy box reads slower).

    python benchmarks/library_throughput.py [--files 40] [--seconds 30] [--real] [--out FILE]

Writes benchmarks/results/library_throughput.json (git-ignored) unless --out says otherwise.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "support"))

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

_EXTRACT = """
import sys
from mgc_jax.data import audio, maps
from dsp import FeatureConfig
cfg = FeatureConfig()
for path in sys.argv[1:]:
    maps.track_maps(audio.load(path), cfg, ("music", "stft"))
"""


def _timed(cmd: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO)
    return time.perf_counter() - t0, proc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=40)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--real", action="store_true", help="copy ../shared/gtzan_mini tracks instead of synthetic ones")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "library_throughput.json"))
    args = ap.parse_args()

    from fake_data import make_fold_data, tiny_config
    from mgc_jax.train.loop import train_and_evaluate

    work = pathlib.Path(tempfile.mkdtemp(prefix="library_throughput-"))
    widths = {"music": 8, "stft": 513}
    runs = []
    for net in ("stft", "music"):
        data = make_fold_data((net,), widths=widths)
        runs.append(train_and_evaluate(tiny_config(net, epochs=1), work / net, data, in_bins=widths).run_dir)
    lib = work / "library"
    files = []
    if args.real:
        real = sorted((REPO.parent / "shared" / "gtzan_mini").rglob("*.au"))[: args.files]
        if not real:
            sys.exit("--real: no ../shared/gtzan_mini tracks")
        for i, src in enumerate(real):
            dst = lib / f"disc{i % 4}" / src.name
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, dst)
            files.append(dst)
    else:
        rng = np.random.default_rng(0)
        n = int(args.seconds * 22050)
        t = np.arange(n) / 22050
        for i in range(args.files):
            dst = lib / f"disc{i % 4}" / f"track{i:03d}.wav"
            dst.parent.mkdir(parents=True, exist_ok=True)
            f0 = 110 * 2 ** (i % 12 / 12)
            x = sum(np.sin(2 * np.pi * f0 * r * t) for r in (1, 1.25, 1.5)) / 6 + 0.02 * rng.standard_normal(n)
            sf.write(dst, x.astype(np.float32), 22050, subtype="PCM_16")
            files.append(dst)
    hours = sum(sf.info(f).duration for f in files) / 3600

    load0 = os.getloadavg()
    tag_s, tag = _timed([sys.executable, "-m", "launch.predict", f"--checkpoint={runs[0]}",
                         f"--checkpoint={runs[1]}", f"--output={work / 'tags.csv'}", str(lib)])
    ext_s, ext = _timed([sys.executable, "-c", _EXTRACT, *map(str, files)])
    for name, proc in (("tag", tag), ("extract", ext)):
        if proc.returncode != 0:
            sys.exit(f"{name} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    result = {"files": len(files), "audio_hours": round(hours, 4), "real": args.real,
              "tag": {"wall_s": round(tag_s, 1), "audio_hours_per_hour": round(hours / (tag_s / 3600), 1),
                      "summary": tag.stdout.strip().splitlines()[:2]},
              "extract": {"wall_s": round(ext_s, 1), "audio_hours_per_hour": round(hours / (ext_s / 3600), 1)},
              "cpu_count": os.cpu_count(), "load_avg_before": load0, "load_avg_after": os.getloadavg(),
              "note": "each wall time includes the process start, imports and XLA compilation"}
    pathlib.Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(f"{len(files)} files, {hours * 60:.1f} min of audio; {os.cpu_count()} cores, load {load0[0]:.1f}")
    print(f"  tag (launch.predict --output): {tag_s:6.1f} s wall, {result['tag']['audio_hours_per_hour']:7.1f} "
          "audio-hours per hour")
    print(f"  extraction alone (decode + maps): {ext_s:6.1f} s wall, "
          f"{result['extract']['audio_hours_per_hour']:7.1f} audio-hours per hour")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
