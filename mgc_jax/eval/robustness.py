"""Adversarial robustness on the waveform (after Kereliuk, Sturm & Larsen 2015): white-box PGD through the dsp
features and the net(s) within an L2 bound set by an SNR, against white noise of the same power.
"""
from __future__ import annotations

import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from dsp.config import FeatureConfig
from mgc_jax import evaluate
from mgc_jax.data import audio
from mgc_jax.data.cache import FeatureCache
from mgc_jax.errors import DataError
from mgc_jax.serve.saliency import TrackModel, spec_score
from mgc_jax.train import rundir

STEP_SCALE = 2.5  # total sign-step length over all steps, in units of eps
MARGIN = 1e-4  # relative shrink of eps: the float32 projection stays inside the float64 bound


def l2_radius(x: np.ndarray, snr_db: float) -> float:
    """eps = |x| 10^(-snr_db / 20) (float64), the largest admissible |delta| for track x [n]."""
    return float(np.linalg.norm(np.asarray(x, np.float64)) * 10.0 ** (-snr_db / 20.0))


def achieved_snr_db(x: np.ndarray, delta: np.ndarray) -> float:
    """10 log10(|x|² / |delta|²) in float64 (inf for delta = 0)."""
    p_delta = float(np.sum(np.square(np.asarray(delta, np.float64))))
    p_x = float(np.sum(np.square(np.asarray(x, np.float64))))
    return float("inf") if p_delta == 0 else 10.0 * np.log10(p_x / p_delta)


def check_bound(x: np.ndarray, delta: np.ndarray, snr_db: float, what: str) -> float:
    """The achieved SNR of delta, or RuntimeError when it is below snr_db (an attack broke its bound)."""
    got = achieved_snr_db(x, delta)
    if not got >= snr_db:
        raise RuntimeError(f"{what}: achieved SNR {got:.6f} dB is below the bound {snr_db} dB")
    return got


def project_l2(delta: jax.Array, radius) -> jax.Array:
    """delta scaled onto the ball |delta| <= radius (unchanged inside it)."""
    norm = jnp.sqrt(jnp.sum(jnp.square(delta)))
    return delta * jnp.minimum(1.0, radius / jnp.maximum(norm, 1e-30))


@functools.lru_cache(maxsize=16)
def _pgd_step(spec):
    """One jitted PGD step for a TrackModel spec: (params, x, delta, label, alpha, radius) -> delta."""
    loss_grad = jax.grad(lambda params, x, delta, label: -spec_score(spec, params, x + delta, label), argnums=2)

    def step(params, x, delta, label, alpha, radius):
        return project_l2(delta + alpha * jnp.sign(loss_grad(params, x, delta, label)), radius)

    return jax.jit(step)


class Attacker:
    """PGD and the noise control for signals of one length through a `TrackModel` (compiled once per spec)."""

    def __init__(self, model: TrackModel):
        self.model = model
        self._step = _pgd_step(model.spec)

    def pgd(self, x: np.ndarray, label: int, *, snr_db: float, steps: int) -> np.ndarray:
        """delta float32 [n], |delta| <= eps(snr_db), after `steps` PGD steps on the loss of `label`."""
        if steps < 1:
            raise ValueError(f"steps={steps}: need >= 1")
        radius = l2_radius(x, snr_db) * (1 - MARGIN)
        alpha = STEP_SCALE * radius / (steps * np.sqrt(x.size))  # a sign step has L2 length alpha sqrt(n)
        xj, delta = jnp.asarray(x, jnp.float32), jnp.zeros(x.shape, jnp.float32)
        for _ in range(steps):
            delta = self._step(self.model.params, xj, delta, jnp.int32(label), jnp.float32(alpha),
                               jnp.float32(radius))
        return np.asarray(delta)

    @staticmethod
    def noise(x: np.ndarray, *, snr_db: float, rng: np.random.Generator) -> np.ndarray:
        """White Gaussian noise float32 [n] scaled to |delta| = eps(snr_db) (1 - MARGIN)."""
        z = rng.standard_normal(x.size)
        return (z * (l2_radius(x, snr_db) * (1 - MARGIN) / np.linalg.norm(z))).astype(np.float32)


# Bounds an attack's SNR can take: below -20 dB the perturbation is 10x the track (nothing is left to attack), above
# 150 dB it is below float32's resolution of the samples (no perturbation at all); NaN or inf have no radius.
SNR_DB_RANGE = (-20.0, 150.0)


def check_snr_dbs(snr_dbs: Sequence[float]) -> None:
    """ValueError "snr_db=V: ..." for an SNR that is not a finite number in `SNR_DB_RANGE`, or for none given."""
    if len(snr_dbs) == 0:
        raise ValueError("snr_db: give at least one SNR")
    lo, hi = SNR_DB_RANGE
    for s in snr_dbs:
        if not (isinstance(s, (int, float, np.floating, np.integer)) and lo <= s <= hi):  # NaN fails too
            raise ValueError(f"snr_db={s!r}: must be a finite number of dB in [{lo:g}, {hi:g}]")


def attack_accuracies(trained: Sequence, feature_cfg, tracks: Sequence[tuple[np.ndarray, int]], *,
             snr_dbs: Sequence[float], steps: int = 10, fusion: str = "fusion2", seed: int = 0,
             progress=None) -> dict:
    """Clean, PGD and noise accuracies of one or two trained nets over `tracks` [(x float32 [n], label)].

    Returns {"clean_accuracy", "n_tracks", "attacks": [{"snr_db", "pgd_accuracy", "noise_accuracy",
    "min_achieved_snr_db"}, ...]} (JSON-able; min over both perturbations of every track). Raises
    RuntimeError if any perturbation breaks its bound. `progress(i, n)` is called after each track.
    """
    if not tracks:
        raise ValueError("no track to attack")
    check_snr_dbs(snr_dbs)
    attackers: dict[int, Attacker] = {}
    rng = np.random.default_rng(seed)
    clean = []
    per_snr = {s: {"pgd": [], "noise": [], "snr": []} for s in snr_dbs}
    for i, (x, label) in enumerate(tracks):
        x = np.asarray(x, np.float32)
        if x.size not in attackers:
            attackers[x.size] = Attacker(TrackModel(trained, feature_cfg, x.size))
        att = attackers[x.size]
        clean.append(evaluate.decide(att.model.net_probs(x), fusion) == label)
        for s in snr_dbs:
            for name, delta in (("pgd", att.pgd(x, label, snr_db=s, steps=steps)),
                                ("noise", att.noise(x, snr_db=s, rng=rng))):
                per_snr[s]["snr"].append(check_bound(x, delta, s, f"{name} at {s} dB, track {i}"))
                per_snr[s][name].append(evaluate.decide(att.model.net_probs(x + delta), fusion) == label)
        if progress is not None:
            progress(i + 1, len(tracks))
    return {"clean_accuracy": float(np.mean(clean)), "n_tracks": len(tracks),
            "attacks": [{"snr_db": float(s), "pgd_accuracy": float(np.mean(r["pgd"])),
                         "noise_accuracy": float(np.mean(r["noise"])), "min_achieved_snr_db": float(min(r["snr"]))}
                        for s, r in per_snr.items()]}


def run_test_tracks(run_dirs: Sequence, workdir, *, max_tracks: int | None = None) -> list[tuple[np.ndarray, int]]:
    """The runs' own test tracks [(x float32 [n], label)], read from the corpus audio the runs' cache lists.

    The tracks are those of the first run's test_probs.npz (two runs must have the same ones); each is
    loaded with mgc_jax.data.audio.load at the feature rate. DataError when the runs' test tracks differ or a
    track is not in the cache index of `workdir`.
    """
    probs = [rundir.read_test_probs(d) for d in run_dirs]
    if len({p.track_ids for p in probs}) != 1:
        raise DataError(f"{run_dirs[0]} and {run_dirs[1]} were tested on different tracks: fuse runs of one fold")
    config = rundir.read_config(run_dirs[0])
    cfg = FeatureConfig.from_dict(config["features"])
    cache_dir = workdir.features_dir(config["corpus"], cfg)
    entries = FeatureCache(cache_dir).entries()
    out = []
    for tid, label in list(zip(probs[0].track_ids, probs[0].labels))[:max_tracks]:
        if tid not in entries:
            raise DataError(f"{cache_dir}: no cache entry for test track {tid!r} (use the run's --workdir)")
        out.append((audio.load(entries[tid]["path"], cfg.sample_rate), int(label)))
    return out
