"""Peak memory of drawing clip batches from a GTZAN-sized STFT cache (mgc_jax.data.clips over mgc_jax.data.cache).

    python benchmarks/clip_memory.py [--tracks 1000] [--frames 1291] [--epochs 1] [--batch_size 20]

Writes a fake feature cache of `tracks` x [frames, 513] float32 maps (GTZAN: 1000 x 1291 x 513 =
2.65 GB) into a temporary folder (after checking free disk space), then, in a fresh process, builds
a `ClipDataset` over it and draws every clip of `epochs` shuffled epochs in batches. Reports the peak
resident set size (VmHWM) and its anonymous / file-backed parts, against the size of the cache and
of the clips materialised as copies. The temporary folder is deleted afterwards. Results also go to
benchmarks/results/clip_memory.json.
"""
from __future__ import annotations

import argparse
import json
import pathlib
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mgc_jax.data.cache import INDEX, INDEX_FORMAT, FeatureCache  # noqa: E402
from mgc_jax.data.clips import CLIP_FRAMES, ClipDataset, clip_starts  # noqa: E402

BINS = 513


def _status() -> dict[str, int]:
    """Memory figures of this process from /proc/self/status, in bytes."""
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmHWM", "VmRSS", "RssAnon", "RssFile"):
                out[key] = int(value.split()[0]) * 1024
    return out


def write_cache(directory: pathlib.Path, tracks: int, frames: int) -> list[str]:
    rng = np.random.default_rng(0)
    ids = [f"blues.{i:05d}" for i in range(tracks)]
    entries = {}
    for tid in ids:
        np.save(directory / f"{tid}.stft.npy", rng.random((frames, BINS), dtype=np.float32))
        entries[tid] = {"files": {"stft": f"{tid}.stft.npy"}, "n_frames": frames}
    (directory / INDEX).write_text(json.dumps({"format": INDEX_FORMAT, "config_hash": None, "config": None,
                                               "tracks": entries}))
    return ids


def draw(directory: pathlib.Path, epochs: int, batch_size: int) -> dict:
    """Build the dataset and draw all batches; runs in its own process so VmHWM is this phase's alone."""
    base = _status()
    cache = FeatureCache(directory)
    ids = sorted(cache.entries())
    t0 = time.perf_counter()
    ds = ClipDataset(cache, ids, np.zeros(len(ids), np.int32), kinds=("stft",))
    t_build = time.perf_counter() - t0
    after_build = _status()
    checksum, batches = 0.0, 0
    t0 = time.perf_counter()
    for epoch in range(epochs):
        for b in ds.batches(batch_size, seed=0, epoch=epoch):
            checksum += float(b.x["stft"][:, 0, 0].sum())  # use the data so nothing is optimised away
            batches += 1
    t_draw = time.perf_counter() - t0
    end = _status()
    return {"baseline": base, "after_build": after_build, "end": end,
            "ru_maxrss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            "n_clips": ds.n_clips, "batches": batches, "build_s": t_build, "draw_s": t_draw,
            "clips_per_s": ds.n_clips * epochs / t_draw, "checksum": checksum}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tracks", type=int, default=1000)
    p.add_argument("--frames", type=int, default=1291)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch_size", type=int, default=20)
    p.add_argument("--tmp", default=None, help="folder for the temporary cache (default: the system temp)")
    p.add_argument("--draw", default=None, help=argparse.SUPPRESS)  # internal: the drawing subprocess
    args = p.parse_args()
    if args.draw:
        print(json.dumps(draw(pathlib.Path(args.draw), args.epochs, args.batch_size)))
        return

    size = args.tracks * args.frames * BINS * 4
    n_clips = args.tracks * len(clip_starts(args.frames))
    copies = n_clips * CLIP_FRAMES * BINS * 4
    tmp_root = pathlib.Path(args.tmp or tempfile.gettempdir())
    free = shutil.disk_usage(tmp_root).free
    if free < 1.2 * size + (1 << 30):
        sys.exit(f"error: {tmp_root} has {free / 1e9:.1f} GB free; the fake cache needs {size / 1e9:.2f} GB + margin")
    directory = pathlib.Path(tempfile.mkdtemp(prefix="clip_memory_", dir=tmp_root))
    try:
        t0 = time.perf_counter()
        write_cache(directory, args.tracks, args.frames)
        t_write = time.perf_counter() - t0
        res = subprocess.run([sys.executable, __file__, "--draw", str(directory), "--epochs", str(args.epochs),
                              "--batch_size", str(args.batch_size)], capture_output=True, text=True, check=True)
        m = json.loads(res.stdout)
    finally:
        shutil.rmtree(directory, ignore_errors=True)

    gb = 1e9
    result = {"tracks": args.tracks, "frames": args.frames, "bins": BINS, "cache_bytes": size,
              "clips_as_copies_bytes": copies, "write_s": t_write, **m}
    print(f"fake STFT cache: {args.tracks} x {args.frames} x {BINS} float32 = {size / gb:.2f} GB on disk "
          f"(written in {t_write:.0f} s, deleted)")
    print(f"clips: {m['n_clips']} ({len(clip_starts(args.frames))} per track); as materialised copies they "
          f"would take {copies / gb:.2f} GB")
    print(f"drew {m['batches']} batches of {args.batch_size} ({args.epochs} epoch(s), every clip) in "
          f"{m['draw_s']:.1f} s = {m['clips_per_s']:.0f} clips/s; dataset built in {m['build_s']:.2f} s")
    for name in ("baseline", "after_build", "end"):
        s = m[name]
        print(f"  {name:12s} RSS {s['VmRSS'] / gb:.3f} GB (anonymous {s['RssAnon'] / gb:.3f}, "
              f"file-backed {s['RssFile'] / gb:.3f}), peak {s['VmHWM'] / gb:.3f} GB")
    print(f"peak RSS of the drawing process: {m['end']['VmHWM'] / gb:.3f} GB "
          f"({100 * m['end']['VmHWM'] / size:.1f} % of the cache)")
    out = REPO / "benchmarks" / "results" / "clip_memory.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
