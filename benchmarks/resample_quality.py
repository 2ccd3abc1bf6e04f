"""soxr HQ vs VHQ: the eight music features of real 44.1 kHz tracks, against the MIRToolbox fidelity tolerances.

    python benchmarks/resample_quality.py [--tracks 8] [--seconds 30]

Each track of ../shared/emotify_dev (MP3, 44.1 kHz stereo, decoded by mgc_jax.data.audio) is mixed to mono and
resampled to 22,050 Hz four ways: soxr HQ and VHQ in float32 (what the decoder runs), and VHQ in float64 as the
reference. `dsp.feature_maps` runs on each; every feature column is compared with the reference using the
tolerances tests/test_dsp_features.py holds our kernels to against MIRToolbox (rms, zcr, brightness, flatness,
entropy: median relative error <= 1e-5 and max <= 1e-3; roughness: median <= 1e-3 and 99 % within 1e-2; key
clarity: 95 % of frames within 1e-3 absolute; hcdf: median <= 1e-3), and the resampling speed is timed (CPU time).
A resampler whose features stay inside those tolerances changes nothing the fidelity tests could see.
"""
from __future__ import annotations

import argparse
import glob
import os
import pathlib
import time

import numpy as np
import soxr

import dsp
from mgc_jax.data import audio

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED = pathlib.Path(os.environ.get("MGC_SHARED", ROOT.parent / "shared"))  # as tests/conftest.py
CFG = dsp.FeatureConfig()
COL = {name: i for i, name in enumerate(dsp.FEATURE_NAMES)}
SIMPLE = ("rms", "zcr", "brightness", "flatness", "entropy")


def _rel(got, want):
    both_zero = (got == 0) & (want == 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(both_zero, 0.0, np.abs(got - want) / np.abs(want))


def _errors(got: np.ndarray, ref: np.ndarray) -> dict[str, tuple[float, bool]]:
    """feature -> (the figure its tolerance bounds, within tolerance)."""
    out = {}
    for name in SIMPLE:
        rel = _rel(got[:, COL[name]], ref[:, COL[name]])
        out[name] = (float(rel.max()), bool(np.median(rel) <= 1e-5 and rel.max() <= 1e-3))
        out[name + " median"] = (float(np.median(rel)), True)
    rel = _rel(got[:, COL["roughness"]], ref[:, COL["roughness"]])
    out["roughness"] = (float(np.median(rel)), bool(np.median(rel) <= 1e-3 and np.mean(rel <= 1e-2) >= 0.99))
    err = np.abs(got[:, COL["key_clarity"]] - ref[:, COL["key_clarity"]])
    out["key_clarity"] = (float(err.max()), bool(np.mean(err <= 1e-3) >= 0.95))
    rel = _rel(got[1:, COL["hcdf"]], ref[1:, COL["hcdf"]])
    out["hcdf"] = (float(np.median(rel)), bool(np.median(rel) <= 1e-3))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tracks", type=int, default=8)
    p.add_argument("--seconds", type=float, default=30.0, help="of each track, from its start")
    args = p.parse_args()
    files = sorted(glob.glob(str(SHARED / "emotify_dev" / "*" / "*.mp3")))
    files = [files[i] for i in np.linspace(0, len(files) - 1, args.tracks).astype(int)]  # spread over the classes
    if not files:
        raise SystemExit(f"no MP3 under {SHARED / 'emotify_dev'}")
    ways = {"HQ float32": ("HQ", np.float32), "VHQ float32": ("VHQ", np.float32)}
    worst: dict[str, dict[str, float]] = {w: {} for w in ways}
    passed: dict[str, dict[str, int]] = {w: {} for w in ways}
    seconds = {w: 0.0 for w in ways}
    for path in files:
        x = audio.decode(path, 44100).samples[: int(args.seconds * 44100)]
        ref = np.asarray(dsp.feature_maps(soxr.resample(x.astype(np.float64), 44100, CFG.sample_rate,
                                                        quality="VHQ").astype(np.float32), CFG)["music"])
        for way, (quality, dtype) in ways.items():
            t = time.process_time()  # CPU time: the shared dev box's neighbours do not count
            y = soxr.resample(x.astype(dtype), 44100, CFG.sample_rate, quality=quality)
            seconds[way] += time.process_time() - t
            got = np.asarray(dsp.feature_maps(np.asarray(y, np.float32), CFG)["music"])
            for name, (figure, ok) in _errors(got, ref).items():
                worst[way][name] = max(worst[way].get(name, 0.0), figure)
                passed[way][name] = passed[way].get(name, 0) + ok
    n = len(files)
    print(f"{n} tracks x {args.seconds:.0f} s of ../shared/emotify_dev at 44.1 kHz, vs soxr VHQ float64; "
          f"worst figure over the tracks (tracks within tolerance)")
    print("| feature (figure bounded) | " + " | ".join(ways) + " |")
    print("|---|" + "---|" * len(ways))
    figure = {"roughness": "median rel", "key_clarity": "max abs", "hcdf": "median rel"}
    for name in dsp.FEATURE_NAMES:
        if name in SIMPLE:
            print(f"| {name} (median rel) | " + " | ".join(f"{worst[w][name + ' median']:.1e}" for w in ways) + " |")
        cells = [f"{worst[w][name]:.1e} ({passed[w][name]}/{n})" for w in ways]
        print(f"| {name} ({figure.get(name, 'max rel')}) | " + " | ".join(cells) + " |")
    print("| resampling speed (x real time per CPU second, mono) | " + " | ".join(
        f"{n * args.seconds / seconds[w]:.0f}" for w in ways) + " |")


if __name__ == "__main__":
    main()
