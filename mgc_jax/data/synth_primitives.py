"""Signal primitives of the synthetic corpus (`mgc_jax.data.synthetic`): wavetable oscillators, envelopes,
noise beds, slow modulation curves and level helpers. NumPy only; deterministic given the generator passed in.
"""
from __future__ import annotations

import functools

import numpy as np

SAMPLE_RATE = 22050  # Hz, the corpus's rate (mgc_jax.data.audio.SAMPLE_RATE, the feature rate)
_TABLE = 2048  # wavetable length (samples per period)

def _hz(midi):
    return 440.0 * 2 ** ((np.asarray(midi, np.float64) - 69) / 12)


def _table(harmonics: int, tilt: float) -> tuple[np.ndarray, np.ndarray]:
    """One period of sum_h h^-tilt sin(2 pi h phi), h = 1..harmonics, and its first differences.

    Returns:
      (values float64 [_TABLE], slopes float64 [_TABLE]) for linear interpolation by `_osc`.
    """
    phi = np.arange(_TABLE + 1) / _TABLE
    h = np.arange(1, harmonics + 1)
    v = (h[:, None] ** -tilt * np.sin(2 * np.pi * h[:, None] * phi[None, :])).sum(0)
    return v[:-1], np.diff(v)


def _osc(table: tuple[np.ndarray, np.ndarray], freq: np.ndarray, phase: float = 0.0) -> np.ndarray:
    """Wavetable oscillator: freq float64 [..., n] in Hz -> float64 [..., n] (linear interpolation)."""
    values, slopes = table
    pos = np.cumsum(freq, axis=-1)
    pos *= _TABLE / SAMPLE_RATE
    pos += phase * _TABLE
    i = pos.astype(np.int64)  # floor: positions are >= 0
    pos -= i  # fractional part
    i &= _TABLE - 1  # wrap to one period (_TABLE is a power of 2)
    out = slopes[i]
    out *= pos
    out += values[i]
    return out


def _envelope(t: np.ndarray, onsets: np.ndarray, attack_s: float, decay_s: float) -> np.ndarray:
    """Attack/decay envelope retriggered at each onset (seconds): float64 [n], 0 before the first."""
    idx = np.searchsorted(onsets, t, side="right") - 1
    dt = t - onsets[np.maximum(idx, 0)]
    env = 1 - np.exp(-dt / max(attack_s, 1e-4))
    if decay_s > 0:
        env *= np.exp(-dt / decay_s)
    return np.where(idx >= 0, env, 0.0)


def _pink_noise(n: int, rng) -> np.ndarray:
    """1/f-power noise: one fixed noise bed of length n, circularly shifted by a random offset."""
    return np.roll(_pink_bed(n), int(rng.integers(n)))


@functools.lru_cache(maxsize=2)
def _pink_bed(n: int) -> np.ndarray:
    spec = np.fft.rfft(np.random.default_rng(1).standard_normal(n))
    spec[1:] /= np.sqrt(np.arange(1, spec.size))  # power ~ 1/f
    spec[0] = 0
    bed = np.fft.irfft(spec, n)
    bed.setflags(write=False)
    return bed


def _slow_curve(t: np.ndarray, rng) -> np.ndarray:
    """A smooth curve in [-1, 1] with 5-15 s periods (crescendi and diminuendi)."""
    periods = rng.uniform(5.0, 15.0, size=3)
    phases = rng.uniform(0, 2 * np.pi, size=3)
    c = np.sin(2 * np.pi * t[:, None] / periods + phases).sum(1)
    return c / np.abs(c).max()


def _compress(x: np.ndarray, amount: float) -> np.ndarray:
    """Level compression: divide by the 50 ms RMS envelope raised to `amount` (0 = none)."""
    w = int(0.05 * SAMPLE_RATE)
    c = np.cumsum(np.concatenate([[0.0], x * x]))
    env = np.sqrt(np.maximum(c[w:] - c[:-w], 0) / w)
    env = np.concatenate([np.full(w // 2, env[0]), env, np.full(x.size - env.size - w // 2, env[-1])])
    ref = np.median(env) + 1e-12
    return x * np.clip((env / ref + 1e-6) ** -amount, 0.1, 10.0)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x * x)))


def _unit_rms(x: np.ndarray) -> np.ndarray:
    r = _rms(x)
    return x / r if r > 0 else x
