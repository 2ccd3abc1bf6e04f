"""Training-step speed of net_STFT and net_MUSIC (and early fusion) against this machine's f32 matmul peak.

For each net and each `ModelConfig.conv_impl` it times the training loop's step, `mgc_jax.train.steps.split_train_step`
(Adam, batch 20 by default, 128-frame clips; the nnx.jit `train_step` too, for reference), and reports
steps/s and achieved GFLOP/s. FLOPs of a step are
counted analytically (multiply-add = 2): forward, plus weight gradients of every layer, plus input
gradients of every layer but conv1 (its input is data), i.e. 3 x forward - conv1 forward; XLA's own
count (compiled cost_analysis) is printed beside it as a cross-check. The peak is the best GFLOP/s of a
jitted 2048 x 2048 f32 matmul measured in the same run, interleaved with the steps, so the ratio stays
meaningful on a machine shared with other jobs.

    python benchmarks/train_speed.py [--batch 20] [--nets stft,music,early] [--repeats 7]

Writes benchmarks/results/train_speed.json (git-ignored).
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from flax import nnx  # noqa: E402

from mgc_jax.config import CONV_IMPLS, FEATURE_WIDTHS, ModelConfig, TrainConfig  # noqa: E402
from mgc_jax.train.checkpoint import fresh_state
from mgc_jax.train.steps import split_train_step, train_step  # noqa: E402

CLIP_FRAMES = 128


def matmul_peak_gflops(n: int = 2048, repeats: int = 10) -> float:
    """Best GFLOP/s of a jitted n x n float32 matmul (the reference 'peak' of this machine right now)."""
    rng = np.random.default_rng(0)
    a = jnp.asarray(rng.standard_normal((n, n), np.float32))
    b = jnp.asarray(rng.standard_normal((n, n), np.float32))
    f = jax.jit(jnp.matmul)
    f(a, b).block_until_ready()
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        f(a, b).block_until_ready()
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


def forward_flops(cfg: ModelConfig, in_bins: int, frames: int = CLIP_FRAMES) -> tuple[int, int]:
    """(forward FLOPs of one clip through one branch + its pooled width, conv1 part) for a GenreCNN branch."""
    kt, k = cfg.kernel_t, cfg.k1
    t1 = frames - kt + 1
    t2, t3 = (t1, t1) if cfg.align == "same" else (t1 - kt + 1, t1 - 2 * (kt - 1))
    conv1 = 2 * t1 * kt * in_bins * k
    return conv1 + 2 * (t2 + t3) * kt * k * k, conv1


def step_flops(net: str, cfg: ModelConfig, batch: int) -> int:
    """Analytic FLOPs of one training step (see module docstring)."""
    kinds = {"stft": ("stft",), "music": ("music",), "early": ("stft", "music")}[net]
    fwd, conv1 = 0, 0
    for kind in kinds:
        f, c = forward_flops(cfg, FEATURE_WIDTHS[kind])
        fwd, conv1 = fwd + f, conv1 + c
    sizes = (2 * cfg.k1 * len(kinds), *cfg.dense, cfg.num_classes)
    fwd += sum(2 * a * b for a, b in zip(sizes[:-1], sizes[1:]))
    return batch * (3 * fwd - conv1)


def make_runner(net: str, impl: str, batch: int, form: str):
    """A compiled, warmed-up training step on random data; returns (window(steps) -> s/step, row stub).

    form: "split" (the training loop's pure jax.jit over nnx.split state) or "nnx.jit" (train_step).
    """
    cfg = TrainConfig(net=net, fold=0, batch_size=batch, model=ModelConfig(conv_impl=impl))
    model, optimizer = fresh_state(cfg, FEATURE_WIDTHS)
    rng = np.random.default_rng(0)
    # Raw-unit-like inputs; values do not change the work done.
    x = {k: jnp.asarray(rng.random((batch, CLIP_FRAMES, FEATURE_WIDTHS[k]), np.float32)) for k in cfg.kinds}
    y = jnp.asarray(rng.integers(0, 10, batch), jnp.int32)
    w = jnp.ones((batch,), jnp.float32)
    key = jax.random.key(0)
    model.train()
    xla_flops = None
    try:
        cost = train_step.lower(model, optimizer, x, y, w, key, None).compile().cost_analysis()
        cost = cost[0] if isinstance(cost, (list, tuple)) else cost
        xla_flops = float(cost.get("flops", float("nan")))
    except Exception as e:  # noqa: BLE001 - the cross-check is optional
        print(f"  (no XLA cost analysis: {type(e).__name__})")
    graphdef, state = nnx.split((model, optimizer))

    def step():
        nonlocal state
        if form == "split":
            state, loss, _ = split_train_step(graphdef, state, x, y, w, key, None)
            return loss
        return train_step(model, optimizer, x, y, w, key, None)[0]

    for _ in range(3):  # compile + warm caches
        step().block_until_ready()

    def window(steps: int) -> float:
        t = time.perf_counter()
        for _ in range(steps):
            loss = step()
        loss.block_until_ready()  # steps dispatch asynchronously, as in the training loop
        return (time.perf_counter() - t) / steps

    row = {"net": net, "conv_impl": impl, "step": form, "batch": batch, "gflop_per_step": step_flops(net, cfg.model, batch) / 1e9,
           "xla_gflop_per_step": None if xla_flops is None else xla_flops / 1e9}
    return window, row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=20)
    ap.add_argument("--nets", default="stft,music")
    ap.add_argument("--impls", default=",".join(CONV_IMPLS))
    ap.add_argument("--repeats", type=int, default=7, help="rounds of timed windows (best and median reported)")
    ap.add_argument("--steps", type=int, default=10, help="steps per timed window")
    ap.add_argument("--out", default=str(pathlib.Path(__file__).parent / "results" / "train_speed.json"))
    args = ap.parse_args()

    default_impl = ModelConfig().conv_impl
    configs = [(net, impl, "split") for net in args.nets.split(",") for impl in args.impls.split(",")]
    configs += [(net, default_impl, "nnx.jit") for net in args.nets.split(",")]
    runners = [make_runner(net, impl, args.batch, form) for net, impl, form in configs]
    # Rounds interleave the peak and every configuration, so a neighbour's load on a shared machine hits
    # them alike; per configuration the best window is the machine's capability, the median its typical speed.
    peaks, times = [], [[] for _ in runners]
    for _ in range(args.repeats):
        peaks.append(matmul_peak_gflops(repeats=3))
        for (window, _), ts in zip(runners, times):
            ts.append(window(args.steps))
    peak = max(peaks)
    rows = []
    for (_, row), ts in zip(runners, times):
        best, med = min(ts) * 1e3, float(np.median(ts)) * 1e3
        rows.append({**row, "ms_per_step": best, "ms_per_step_median": med, "steps_per_s": 1e3 / best,
                     "gflops": row["gflop_per_step"] / best * 1e3, "gflops_median": row["gflop_per_step"] / med * 1e3})
    print(f"\nf32 matmul peak (2048^2, jitted, best of {len(peaks)} rounds): {peak:.0f} GFLOP/s   devices: {jax.devices()}   "
          f"cpu cores: {os.cpu_count()}\n")
    print(f"{'net':6} {'conv_impl':9} {'step':8} {'ms/step':>8} {'(median)':>8} {'steps/s':>8} {'GFLOP/step':>10} "
          f"{'XLA GFLOP':>9} {'GFLOP/s':>8} {'% peak':>7} {'(median)':>8}")
    for r in rows:
        r["pct_of_peak"] = 100 * r["gflops"] / peak
        r["pct_of_peak_median"] = 100 * r["gflops_median"] / peak
        mark = " (training loop)" if r["conv_impl"] == default_impl and r["step"] == "split" else ""
        xla = f"{r['xla_gflop_per_step']:9.2f}" if r["xla_gflop_per_step"] is not None else f"{'-':>9}"
        print(f"{r['net']:6} {r['conv_impl']:9} {r['step']:8} {r['ms_per_step']:8.1f} {r['ms_per_step_median']:8.1f} "
              f"{r['steps_per_s']:8.2f} {r['gflop_per_step']:10.2f} {xla} {r['gflops']:8.0f} "
              f"{r['pct_of_peak']:6.0f}% {r['pct_of_peak_median']:7.0f}%{mark}")
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"peak_gflops": peak, "jax": jax.__version__, "machine": platform.processor()
                               or platform.machine(), "cpu_count": os.cpu_count(), "rows": rows}, indent=2))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
