"""Extraction throughput over devices: x-real-time of both feature maps on 1 vs N (simulated) devices, and on GPUs.

CPU mode (default): for each device count in --devices, a subprocess started with
`XLA_FLAGS=--xla_force_host_platform_device_count=N` runs the program `mgc_jax.data.extraction.extract` runs on a batch:
`mgc_jax.sharding.batch_map(dsp.features.feature_maps)` over a mesh of its N CPU devices, each device mapping its
own tracks. A call includes the host-to-device split (`shard_rows`) and fetching both maps back to NumPy, as in
the cache. The input is the GTZAN dev clips of ../shared/gtzan_dev cropped to a common length (repeated to fill
the batch), else synthetic 30 s signals. Simulated devices share the machine's cores: they cannot be faster than
the cores they share, so on a 2-core box 4 devices measure the cost of the sharding, not a speed-up.

GPU mode (--gpu): in this process, over every local GPU, a GTZAN-sized input (--tracks, default 1000 tracks of
30 s = 30,000 s of audio) in batches of --gpu_batch tracks, reported two ways: end to end (host audio in, both
maps back on the host) and compute only (input already on the devices, maps left there). Issue 7's goal on one
GPU is >= 20,000x real time. Without a GPU it records why and measures nothing.

x-real-time = seconds of audio / wall seconds (best of --repeats, median beside it). Compile time is apart.

    python benchmarks/extract_devices.py [--devices 1,2,4] [--batch 8] [--repeats 5] [--out FILE]
    python benchmarks/extract_devices.py --gpu [--tracks 1000] [--gpu_batch 100]

Writes benchmarks/results/extract_devices.json (git-ignored) unless --out says otherwise.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import platform
import subprocess
import sys
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = pathlib.Path(os.environ.get("MGC_SHARED", REPO.parent / "shared"))
FS = 22050


def load_batch(batch: int, seconds: float):
    """float32 [batch, n] of equal-length tracks and where they come from (see the module docstring)."""
    import numpy as np

    clips = sorted((SHARED / "gtzan_dev").glob("*/*.au"))
    if clips:
        import soundfile as sf

        tracks = [sf.read(p, dtype="float32")[0] for p in clips]
        n = min(min(len(t) for t in tracks), int(seconds * FS))
        x = np.stack([tracks[i % len(tracks)][:n] for i in range(batch)])
        return x, f"{len(clips)} GTZAN dev clips repeated to {batch} tracks of {n} samples"
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * FS)) / FS
    x = np.stack([0.2 * sum(np.sin(2 * np.pi * 110 * 2 ** (i / 12) * r * t) for r in (1, 1.26, 1.5, 2.0))
                  + 0.05 * rng.standard_normal(t.size) for i in range(batch)]).astype(np.float32)
    return x, f"synthetic chords + noise ({batch} x {seconds:g} s)"


def _timed(fn, repeats: int) -> tuple[list[float], list[float]]:
    """Wall and CPU (user + system, all threads) seconds of `repeats` calls of fn()."""
    walls, cpus = [], []
    for _ in range(repeats):
        c, t = os.times(), time.perf_counter()
        fn()
        walls.append(time.perf_counter() - t)
        c2 = os.times()
        cpus.append((c2.user - c.user) + (c2.system - c.system))
    return walls, cpus


def child(batch: int, seconds: float, repeats: int) -> dict:
    """One device count (set by XLA_FLAGS before JAX starts): time the sharded maps on all local devices."""
    import jax
    import numpy as np

    import dsp
    from dsp.features import feature_maps
    from mgc_jax import sharding

    cfg = dsp.FeatureConfig()
    mesh = sharding.local_mesh()
    if batch % mesh.size:
        raise SystemExit(f"--batch {batch} must be a multiple of the {mesh.size} devices")
    x, source = load_batch(batch, seconds)
    run = sharding.batch_map(lambda v: feature_maps(v, cfg), mesh)

    def call():
        maps = run(sharding.shard_rows(x, mesh))
        return np.asarray(maps["music"]), np.asarray(maps["stft"])

    t = time.perf_counter()
    call()
    compile_s = time.perf_counter() - t
    walls, cpus = _timed(call, repeats)
    audio_s = x.shape[0] * x.shape[1] / FS
    return {"devices": mesh.size, "backend": jax.default_backend(), "batch": batch, "audio_s": audio_s,
            "source": source, "compile_s": compile_s, "wall_s": walls, "cpu_s": cpus,
            "xrt_best": audio_s / min(walls), "xrt_median": audio_s / float(np.median(walls)),
            "xrt_cpu": audio_s / min(cpus)}


def cpu_mode(args) -> dict:
    rows = []
    for n in args.devices:
        env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={n}", "JAX_PLATFORMS": "cpu"}
        load = os.getloadavg()[0]
        proc = subprocess.run([sys.executable, __file__, "--child", "--batch", str(args.batch), "--seconds",
                               str(args.seconds), "--repeats", str(args.repeats)],
                              env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"{n}-device run failed:\n{proc.stderr[-3000:]}")
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        row["load_before"], row["load_after"] = load, os.getloadavg()[0]
        rows.append(row)
        print(f"{row['devices']} device(s): {row['xrt_best']:8,.0f}x real time (median {row['xrt_median']:,.0f}x, "
              f"per CPU-second {row['xrt_cpu']:,.0f}x), compile {row['compile_s']:.1f} s, "
              f"load {row['load_before']:.2f} -> {row['load_after']:.2f}", flush=True)
    base = rows[0]["xrt_best"]
    for r in rows:
        r["speedup_vs_first"] = r["xrt_best"] / base
    return {"mode": "cpu", "rows": rows}


def gpu_mode(args) -> dict:
    import jax
    import numpy as np

    if jax.default_backend() != "gpu":
        reason = f"no GPU: JAX's backend here is {jax.default_backend()!r} ({jax.devices()})"
        print(reason)
        return {"mode": "gpu", "measured": False, "reason": reason}
    import dsp
    from dsp.features import feature_maps
    from mgc_jax import sharding

    cfg = dsp.FeatureConfig()
    mesh = sharding.local_mesh()
    b = sharding.padded_size(args.gpu_batch, mesh)
    x, source = load_batch(b, 30.0)
    n_batches = -(-args.tracks // b)
    audio_s = n_batches * b * x.shape[1] / FS
    run = sharding.batch_map(lambda v: feature_maps(v, cfg), mesh)
    t = time.perf_counter()
    jax.block_until_ready(run(sharding.shard_rows(x, mesh)))
    compile_s = time.perf_counter() - t

    def end_to_end():  # host audio in, both maps out on the host: what the cache pays per batch
        for _ in range(n_batches):
            maps = run(sharding.shard_rows(x, mesh))
            [np.asarray(v) for v in maps.values()]

    on_device = sharding.shard_rows(x, mesh)

    def compute_only():
        outs = [run(on_device) for _ in range(n_batches)]
        jax.block_until_ready(outs[-1])

    e2e, _ = _timed(end_to_end, args.repeats)
    comp, _ = _timed(compute_only, args.repeats)
    row = {"mode": "gpu", "measured": True, "devices": [str(d) for d in mesh.devices.flat], "tracks": n_batches * b,
           "batch": b, "audio_s": audio_s, "source": source, "compile_s": compile_s, "end_to_end_s": e2e,
           "compute_only_s": comp, "xrt_end_to_end": audio_s / min(e2e), "xrt_compute_only": audio_s / min(comp),
           "goal_xrt": 20_000}
    print(f"{len(row['devices'])} GPU(s), {row['tracks']} tracks x 30 s = {audio_s:,.0f} s of audio, batches of {b}:")
    print(f"  end to end   {min(e2e):7.2f} s  {row['xrt_end_to_end']:9,.0f}x real time")
    print(f"  compute only {min(comp):7.2f} s  {row['xrt_compute_only']:9,.0f}x real time  (goal 20,000x)")
    print(f"  compile {compile_s:.1f} s")
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--devices", default="1,2,4", help="CPU mode: simulated device counts to compare")
    ap.add_argument("--batch", type=int, default=8, help="CPU mode: tracks per batch (a multiple of each count)")
    ap.add_argument("--seconds", type=float, default=30.0, help="CPU mode: track length")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--gpu", action="store_true", help="GPU mode (GTZAN-sized input on every local GPU)")
    ap.add_argument("--tracks", type=int, default=1000, help="GPU mode: tracks of 30 s (GTZAN: 1000)")
    ap.add_argument("--gpu_batch", type=int, default=100, help="GPU mode: tracks per batch")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "extract_devices.json"))
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.batch, args.seconds, args.repeats)))
        return
    args.devices = [int(d) for d in args.devices.split(",")]
    result = gpu_mode(args) if args.gpu else cpu_mode(args)
    result.update(date=datetime.datetime.now().isoformat(timespec="seconds"), machine=platform.machine(),
                  cpus=os.cpu_count(), python=platform.python_version())
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
