"""Feature-extraction speed: x-real-time of dsp.music_features + dsp.stft_features against essentia, librosa, librosax.

The batch is the five real GTZAN dev clips in ../shared/gtzan_dev (cropped to their common length, ~30 s) when
present, else synthetic 30 s signals (a chord over noise). Our two maps run jitted and vmapped over the batch
(`dsp.feature_maps`; jax.vmap of the maps runs the tracks one after another, see dsp/features.py). Each kernel is
also timed alone, jitted, over the same batch one track at a time as the maps run it (rms and zcr from the
signal, the spectral features and roughness from a precomputed STFT, key clarity and HCDF from the signal), with
its first-call compile time. The references compute their nearest equivalents in the same run, one track at a time as their users
would: librosa (+ NumPy where librosa has no such feature), essentia (standard mode, per-frame algorithms) and
librosax (a JAX port of librosa, jitted per track) when importable. Each row says which call stands for which
feature; they are equivalents, not equal definitions (docs/features.md §2).

x-real-time = seconds of audio / wall seconds (best of --repeats, with the median beside it: the machine is shared).
Steady-state figures exclude compilation, which is reported apart.

    python benchmarks/extract_speed.py [--batch 5] [--repeats 5] [--refs librosa,essentia,librosax] [--out FILE]

Writes benchmarks/results/extract_speed.json (git-ignored) unless --out says otherwise.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import functools
import json
import os
import pathlib
import platform
import sys
import time
from typing import Callable

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import dsp  # noqa: E402
from dsp.features import feature_maps  # noqa: E402
from dsp.key import key_clarity_frames  # noqa: E402
from dsp.roughness import lattice_kernel  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED = pathlib.Path(os.environ.get("MGC_SHARED", REPO.parent / "shared"))
FEATURES = ("stft",) + dsp.FEATURE_NAMES
CFG = dsp.FeatureConfig()
FS, L, H, N_FFT = CFG.sample_rate, CFG.frame_length, CFG.hop_length, CFG.n_fft


# --- input -------------------------------------------------------------------------------------------------


def load_batch(batch: int, seconds: float) -> tuple[np.ndarray, str]:
    """float32 [batch, n] of equal-length tracks and a description of where they come from."""
    clips = sorted((SHARED / "gtzan_dev").glob("*/*.au"))
    if clips:
        import soundfile as sf

        tracks = [sf.read(p, dtype="float32")[0] for p in clips]
        tracks = [tracks[i % len(tracks)] for i in range(batch)]
        n = min(min(len(t) for t in tracks), int(seconds * FS))
        names = [clips[i % len(clips)].stem for i in range(batch)]
        return np.stack([t[:n] for t in tracks]), f"GTZAN dev clips {names}, cropped to {n} samples"
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * FS)) / FS
    out = []
    for i in range(batch):
        f0 = 110.0 * 2 ** (i / 12)
        chord = sum(np.sin(2 * np.pi * f0 * r * t * (1 + 0.001 * i)) for r in (1, 1.26, 1.5, 2.0))
        out.append(0.2 * chord + 0.05 * rng.standard_normal(t.size))
    return np.stack(out).astype(np.float32), f"synthetic chords + noise ({batch} x {seconds:g} s)"


# --- timing ------------------------------------------------------------------------------------------------


def first_call(fn: Callable, *args) -> float:
    t = time.perf_counter()
    jax.block_until_ready(fn(*args))
    return time.perf_counter() - t


def steady(fns: dict[str, tuple[Callable, tuple]], repeats: int) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """(wall, CPU) seconds of each fn over `repeats` rounds, interleaved so a load spike hits every row alike.

    CPU is this process's user + system time over all its threads: on a machine shared with other jobs it
    is steadier than wall time, and wall / CPU shows how much of the second core a row used.
    """
    wall = {name: [] for name in fns}
    cpu = {name: [] for name in fns}
    for _ in range(repeats):
        for name, (fn, args) in fns.items():
            t, c = time.perf_counter(), time.process_time()
            jax.block_until_ready(fn(*args))
            cpu[name].append(time.process_time() - c)
            wall[name].append(time.perf_counter() - t)
    return wall, cpu


# --- ours --------------------------------------------------------------------------------------------------


def jax_kernels(x: jax.Array) -> dict[str, tuple[Callable, tuple]]:
    """Fresh jitted, vmapped callables (name -> (fn, args)) for each kernel, the two maps, and both together."""
    t = dsp.n_frames(int(x.shape[-1]), CFG)
    spec = jax.jit(jax.vmap(dsp.stft_magnitude, in_axes=(0, None)), static_argnums=1)(x, CFG)
    spec = jax.block_until_ready(spec)

    def vj(f):
        # jax.vmap of the two maps runs the tracks in sequence (dsp.features' batching rule); time each kernel
        # the same way, so the rows add up to what the maps do (batched, some kernels cost up to 5x more here).
        return jax.jit(lambda xs: jax.lax.map(f, xs))

    trims = {
        "brightness": (lambda s: dsp.brightness(s, sample_rate=FS, n_fft=N_FFT, cutoff_hz=CFG.brightness_cutoff_hz),
                       CFG.min_rms_brightness),
        "flatness": (dsp.spectral_flatness, CFG.min_rms_flatness),
        "entropy": (dsp.spectral_entropy, CFG.min_rms_entropy),
    }
    out = {
        "stft": (vj(lambda v: dsp.stft_magnitude(v, CFG)), (x,)),
        "rms": (vj(lambda v: dsp.rms(dsp.frame(v, CFG))), (x,)),
        "zcr": (vj(lambda v: dsp.zero_crossing_rate(dsp.frame(v, CFG), sample_rate=FS)), (x,)),
    }
    for name, (fn, thr) in trims.items():
        out[name] = (vj(functools.partial(lambda s, fn, thr: dsp.min_rms_trim(fn(s), s, threshold=thr), fn=fn, thr=thr)),
                     (spec,))
    out["roughness"] = (vj(lambda s: dsp.roughness(s, CFG)), (spec,))
    out["key_clarity"] = (vj(lambda v: key_clarity_frames(dsp.key_clarity(v, CFG), t, CFG)), (x,))
    out["hcdf"] = (vj(lambda v: dsp.hcdf(v, CFG)), (x,))
    out["music_features"] = (jax.jit(jax.vmap(lambda v: dsp.music_features(v, CFG))), (x,))
    out["music+stft"] = (jax.jit(jax.vmap(lambda v: feature_maps(v, CFG))), (x,))  # both maps, one STFT
    return out


def threaded_maps(threads: int) -> Callable:
    """Both maps of a batch [B, n], the tracks spread over `threads` Python threads (one jitted call per track)."""
    one = jax.jit(lambda v: feature_maps(v, CFG))
    pool = concurrent.futures.ThreadPoolExecutor(threads)

    def run(xs):
        return list(pool.map(lambda v: jax.block_until_ready(one(v)), list(xs)))

    return run


# --- references (one track at a time) ----------------------------------------------------------------------


def hamming_sym(n: int) -> np.ndarray:
    k = np.arange(n)
    return 0.54 - 0.46 * np.cos(2 * np.pi * k / (n - 1))


def roughness_np(s: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """NumPy stand-in for roughness: local maxima above 1 % of the track's range, then w^T K w per frame.

    s: float32 [T, bins] magnitudes. Not mirpeaks' contrast rule (which is a sequential loop per frame); the
    cheapest NumPy formulation of the same quadratic form, so librosa's total is not penalised by a slow port.
    """
    d = (s - s.min()) / max(float(s.max() - s.min()), 1e-20)
    peak = (d[:, 1:-1] > d[:, :-2]) & (d[:, 1:-1] >= d[:, 2:]) & (d[:, 1:-1] >= 0.01)
    w = np.zeros_like(s)
    w[:, 1:-1] = np.where(peak, s[:, 1:-1], 0)
    return np.einsum("tk,tk->t", w @ kernel.T, w)


def key_windows(t: int, n: int) -> np.ndarray:
    """Frame-index ranges [W, 2] of the 6 s / 3 s key windows, for frame-based stand-ins."""
    w = dsp.n_key_windows(n, CFG)
    per = CFG.key_window_length // H
    starts = np.arange(w) * (CFG.key_hop_length // H)
    return np.stack([starts, np.minimum(starts + per, t)], -1)


def key_clarity_from_chroma(chroma: np.ndarray, windows: np.ndarray, t: int) -> np.ndarray:
    """chroma [12, T] -> max Pearson correlation with the 24 Gomez profiles per window, mapped to frames."""
    prof = np.asarray(dsp.GOMEZ_PROFILES, np.float64)
    prof = (prof - prof.mean(1, keepdims=True)) / prof.std(1, keepdims=True)
    means = np.stack([chroma[:, a:b].mean(1) for a, b in windows])
    means = (means - means.mean(1, keepdims=True)) / (means.std(1, keepdims=True) + 1e-12)
    clarity = (means @ prof.T / 12).max(1)
    centres = windows.mean(1)
    return clarity[np.abs(np.arange(t)[:, None] - centres[None]).argmin(1)]


def librosa_pipeline() -> tuple[dict[str, Callable], Callable]:
    """Per-feature callables (each takes (y, S, ctx)) and a whole-pipeline callable taking y."""
    import librosa

    win = hamming_sym(L)
    first = int(np.ceil(CFG.brightness_cutoff_hz * N_FFT / FS + 1e-9))
    kernel = lattice_kernel(FS, N_FFT, CFG.n_bins).astype(np.float32)

    def stft(y):
        return np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=H, win_length=L, window=win, center=False))  # [bins, T]

    def chroma(S):
        return librosa.feature.chroma_stft(S=S**2, sr=FS, tuning=0.0)

    feats = {
        "stft": lambda y, S, c: stft(y),
        "rms": lambda y, S, c: librosa.feature.rms(y=y, frame_length=L, hop_length=H, center=False),
        "zcr": lambda y, S, c: librosa.feature.zero_crossing_rate(y, frame_length=L, hop_length=H, center=False) * FS / 2,
        "brightness": lambda y, S, c: S[first:].sum(0) / np.maximum(S.sum(0), 1e-20),
        "flatness": lambda y, S, c: librosa.feature.spectral_flatness(S=S, power=1.0, amin=1e-20),
        "entropy": lambda y, S, c: _entropy_np(S),
        "roughness": lambda y, S, c: roughness_np(S.T, kernel),
        "key_clarity": lambda y, S, c: key_clarity_from_chroma(chroma(S), key_windows(S.shape[1], len(y)), S.shape[1]),
        "hcdf": lambda y, S, c: np.linalg.norm(np.diff(librosa.feature.tonnetz(chroma=chroma(S), sr=FS), axis=1), axis=0),
    }

    def whole(y):
        S = stft(y)
        return [f(y, S, None) for name, f in feats.items() if name != "stft"]

    return feats, whole


def _entropy_np(S: np.ndarray) -> np.ndarray:
    p = S / (S.sum(0, keepdims=True) + 1e-12)
    return -(p * np.log(p + 1e-12)).sum(0) / np.log(S.shape[0])


def essentia_pipeline() -> tuple[dict[str, Callable], Callable]:
    """Per-frame essentia algorithms; each feature callable takes (frames [T, L], spectra [T, bins], ctx)."""
    import essentia.standard as es

    window = es.Windowing(type="hamming", size=L, normalized=False, zeroPhase=False)
    spectrum = es.Spectrum(size=N_FFT)
    rms, zcr = es.RMS(), es.ZeroCrossingRate()
    band = es.EnergyBandRatio(sampleRate=FS, startFrequency=CFG.brightness_cutoff_hz, stopFrequency=FS / 2)
    flat, ent = es.Flatness(), es.Entropy()
    peaks = es.SpectralPeaks(sampleRate=FS, maxPeaks=CFG.max_peaks, minFrequency=1.0, orderBy="frequency",
                             magnitudeThreshold=0.0)
    diss = es.Dissonance()
    hpcp = es.HPCP(sampleRate=FS, size=12, referenceFrequency=440.0 * 2 ** (-9 / 12))  # bin 0 = C
    key = es.Key(profileType="gomez", usePolyphony=False, useThreeChords=False, pcpSize=12)

    def stft(frames):
        return np.stack([spectrum(window(f)) for f in frames])

    def hpcps(S):
        return np.stack([hpcp(*peaks(s)) for s in S])

    def clarity(S, n):
        h = hpcps(S)
        wins = key_windows(len(S), n)
        strength = np.array([key(h[a:b].mean(0).astype(np.float32))[2] for a, b in wins])
        return strength[np.abs(np.arange(len(S))[:, None] - wins.mean(1)[None]).argmin(1)]

    def hcdf(S):
        return np.linalg.norm(np.diff(_tonal_centroid_np(hpcps(S)), axis=0), axis=1)

    feats = {
        "stft": lambda fr, S, n: stft(fr),
        "rms": lambda fr, S, n: [rms(f) for f in fr],
        "zcr": lambda fr, S, n: [zcr(f) * FS / 2 for f in fr],
        "brightness": lambda fr, S, n: [band(s) for s in S],
        "flatness": lambda fr, S, n: [flat(s) for s in S],
        "entropy": lambda fr, S, n: [ent(s / (s.sum() + 1e-12)) for s in S],
        "roughness": lambda fr, S, n: [diss(*peaks(s)) for s in S],
        "key_clarity": lambda fr, S, n: clarity(S, n),
        "hcdf": lambda fr, S, n: hcdf(S),
    }

    def whole(y):
        fr = frames_np(y)
        S = stft(fr)
        return [f(fr, S, len(y)) for name, f in feats.items() if name != "stft"]

    return feats, whole


def _tonal_centroid_np(chroma: np.ndarray) -> np.ndarray:
    """Harte's 6-D tonal centroid of chroma rows [T, 12] (L1-normalised), NumPy."""
    k = np.arange(12)
    phi = np.stack([np.sin(k * 7 * np.pi / 6), np.cos(k * 7 * np.pi / 6), np.sin(k * 3 * np.pi / 2),
                    np.cos(k * 3 * np.pi / 2), 0.5 * np.sin(k * 2 * np.pi / 3), 0.5 * np.cos(k * 2 * np.pi / 3)])
    c = chroma / np.maximum(np.abs(chroma).sum(1, keepdims=True), 1e-12)
    return c @ phi.T


def frames_np(y: np.ndarray) -> np.ndarray:
    return np.lib.stride_tricks.sliding_window_view(y, L)[::H].astype(np.float32)


def librosax_pipeline(n: int) -> tuple[dict[str, Callable], Callable]:
    """librosax calls jitted per track (one [n] signal at a time); brightness/entropy/key as jnp on its |STFT|."""
    import librosax
    from librosax import feature as lf

    win = lambda m: hamming_sym(m)  # noqa: E731  (librosax accepts a callable window)
    first = int(np.ceil(CFG.brightness_cutoff_hz * N_FFT / FS + 1e-9))
    t = 1 + (n - L) // H
    windows = key_windows(t, n)
    prof = np.asarray(dsp.GOMEZ_PROFILES, np.float64)
    prof = jnp.asarray((prof - prof.mean(1, keepdims=True)) / prof.std(1, keepdims=True), jnp.float32)
    onehot = np.zeros((len(windows), t), np.float32)
    for i, (a, b) in enumerate(windows):
        onehot[i, a:b] = 1.0 / (b - a)
    nearest = np.abs(np.arange(t)[:, None] - windows.mean(1)[None]).argmin(1)

    def stft(y):
        return jnp.abs(librosax.stft(y, n_fft=N_FFT, hop_length=H, win_length=L, window=win, center=False))

    def chroma(S):
        return lf.chroma_stft(S=S**2, sr=FS, n_fft=N_FFT, tuning=0.0)

    def key_clarity(S):
        m = chroma(S) @ onehot.T  # [12, W] window means
        m = (m - m.mean(0)) / (m.std(0) + 1e-12)
        return (prof @ m / 12).max(0)[nearest]

    feats = {
        "stft": lambda y, S: stft(y),
        "rms": lambda y, S: lf.rms(y=y, frame_length=L, hop_length=H, center=False),
        "zcr": lambda y, S: lf.zero_crossing_rate(y, frame_length=L, hop_length=H, center=False) * FS / 2,
        "brightness": lambda y, S: S[first:].sum(0) / jnp.maximum(S.sum(0), 1e-20),
        "flatness": lambda y, S: lf.spectral_flatness(S=S, power=1.0, amin=1e-20),
        "entropy": lambda y, S: _entropy_jnp(S),
        "key_clarity": lambda y, S: key_clarity(S),
        "hcdf": lambda y, S: jnp.linalg.norm(jnp.diff(lf.tonnetz(chroma=chroma(S), sr=FS), axis=1), axis=0),
    }

    def whole(y):
        S = stft(y)
        return [f(y, S) for name, f in feats.items() if name != "stft"]

    jitted = {name: jax.jit(f) for name, f in feats.items()}
    return jitted, jax.jit(whole)


def _entropy_jnp(S):
    p = S / (S.sum(0, keepdims=True) + 1e-12)
    return -(p * jnp.log(p + 1e-12)).sum(0) / np.log(S.shape[0])


def time_reference(name: str, x: np.ndarray, repeats: int) -> dict:
    """Per-feature and whole-pipeline wall times of one reference over the batch (a Python loop over tracks)."""
    n = x.shape[-1]
    if name == "librosa":
        feats, whole = librosa_pipeline()
        specs = [feats["stft"](y, None, None) for y in x]
        calls = {f: (lambda f=f: [feats[f](y, S, None) for y, S in zip(x, specs)]) for f in feats}
    elif name == "essentia":
        feats, whole = essentia_pipeline()
        frames = [frames_np(y) for y in x]
        specs = [feats["stft"](fr, None, n) for fr in frames]
        calls = {f: (lambda f=f: [feats[f](fr, S, n) for fr, S in zip(frames, specs)]) for f in feats}
    elif name == "librosax":
        feats, whole = librosax_pipeline(n)
        xs = [jnp.asarray(y) for y in x]
        specs = [jax.block_until_ready(feats["stft"](y, None)) for y in xs]
        calls = {f: (lambda f=f: [feats[f](y, S) for y, S in zip(xs, specs)]) for f in feats}
        x = xs
    else:
        raise ValueError(name)
    calls["total"] = lambda: [whole(y) for y in x]
    compile_s = {f: first_call(c) for f, c in calls.items()}  # warm-up (and, for librosax, compilation)
    times, cpu = steady({f: (c, ()) for f, c in calls.items()}, repeats)
    return {"times": times, "cpu": cpu, "first_call_s": compile_s}


# --- report ------------------------------------------------------------------------------------------------


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, default=5, help="tracks per vmapped batch (default: the 5 dev clips)")
    ap.add_argument("--seconds", type=float, default=30.0, help="track length cap in seconds")
    ap.add_argument("--repeats", type=int, default=5, help="timed rounds (best and median are reported)")
    ap.add_argument("--refs", default="librosa,essentia,librosax", help="comma list of references ('' for none)")
    ap.add_argument("--threads", type=int, default=2,
                    help="also time both maps with the tracks spread over this many Python threads, each running "
                         "the jitted one-track function (XLA releases the GIL: one track per core); 1 to skip")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "extract_speed.json"))
    args = ap.parse_args(argv)
    if args.batch < 1 or args.repeats < 1:
        ap.error("--batch and --repeats must be >= 1")

    load_start = os.getloadavg()[0]
    x_np, source = load_batch(args.batch, args.seconds)
    audio_s = x_np.size / FS
    print(f"input: {source}; {audio_s:.1f} s of audio; jax {jax.__version__} on {jax.devices()[0].platform}, "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")

    x = jnp.asarray(x_np)
    kernels = jax_kernels(x)
    if args.threads > 1:
        kernels[f"music+stft {args.threads}thr"] = (threaded_maps(args.threads), (x,))
    first_s = {name: first_call(fn, *a) for name, (fn, a) in kernels.items()}
    ours, ours_cpu = steady(kernels, args.repeats)
    # The first call traces, compiles and runs once: compile time is the excess over a steady call.
    compile_s = {k: max(v - min(ours[k]), 0.0) for k, v in first_s.items()}

    refs = {}
    for ref in [r for r in args.refs.split(",") if r]:
        try:
            refs[ref] = time_reference(ref, x_np, args.repeats)
        except ImportError as e:
            print(f"{ref}: not importable ({e}); skipped")

    def xrt(ts):
        return audio_s / min(ts)

    def xrt_cpu(ts):
        return audio_s / float(np.median(ts))

    print("x-real-time = audio seconds / wall seconds (best of the rounds); 'cpu' = per CPU-second (median)")
    header = f"{'feature':15s} {'ours ms':>8s} {'ours xRT':>9s} {'(cpu)':>7s} {'compile s':>9s}" + "".join(
        f" {r + ' xRT':>13s} {'(cpu)':>6s}" for r in refs)
    print(header)
    print("-" * len(header))
    rows = list(FEATURES) + ["music_features", "music+stft"] + [k for k in ours if k.endswith("thr")]
    for row in rows:
        line = (f"{row:15s} {min(ours[row]) * 1e3:8.2f} {xrt(ours[row]):9.0f} {xrt_cpu(ours_cpu[row]):7.0f}"
                f" {compile_s[row]:9.2f}")
        ref_row = "total" if row.startswith("music+stft") else row
        for r in refs.values():
            ts = r["times"].get(ref_row)
            line += f" {xrt(ts):13.0f} {xrt_cpu(r['cpu'][ref_row]):6.0f}" if ts else f" {'-':>13s} {'':6s}"
        print(line)
    kernel_sum = sum(min(ours[f]) for f in FEATURES)
    share = {f: min(ours[f]) / kernel_sum for f in FEATURES}
    print(f"nine kernels timed alone: {kernel_sum * 1e3:.1f} ms ({audio_s / kernel_sum:.0f}x); shares: "
          + ", ".join(f"{f} {share[f]:.0%}" for f in sorted(share, key=share.get, reverse=True)))
    print(f"load average at the end: {os.getloadavg()[0]:.2f} (2 cores: above ~2, other jobs share the CPU)")

    result = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "source": source, "audio_seconds": audio_s, "batch": args.batch, "repeats": args.repeats,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "jax": jax.__version__,
                    "load_avg_end": os.getloadavg()},
        "config": CFG.to_dict(),
        "load_avg_start": load_start,
        "ours": {k: {"best_s": min(v), "median_s": float(np.median(v)), "x_real_time": xrt(v),
                     "cpu_median_s": float(np.median(ours_cpu[k])), "x_real_time_cpu": xrt_cpu(ours_cpu[k]),
                     "first_call_s": first_s[k], "compile_s": compile_s[k]} for k, v in ours.items()},
        "references": {r: {f: {"best_s": min(v), "median_s": float(np.median(v)), "x_real_time": xrt(v),
                               "cpu_median_s": float(np.median(d["cpu"][f])), "x_real_time_cpu": xrt_cpu(d["cpu"][f]),
                               "first_call_s": d["first_call_s"][f]} for f, v in d["times"].items()}
                       for r, d in refs.items()},
    }
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
