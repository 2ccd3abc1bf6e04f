"""A test signal with non-trivial values for every feature, for the inference and launch.predict suites."""
from __future__ import annotations

import numpy as np

SR = 22050


def tone(seconds: float, *, freq: float = 440.0, sr: int = SR, seed: int = 0) -> np.ndarray:
    """A decaying harmonic tone with a little noise: float32 [n] (non-trivial values for every feature)."""
    t = np.arange(int(seconds * sr)) / sr
    rng = np.random.default_rng(seed)
    x = sum(np.sin(2 * np.pi * freq * h * t) / h for h in range(1, 6)) * (0.5 + 0.5 * np.cos(2 * np.pi * 0.7 * t))
    return (0.2 * x + 0.01 * rng.standard_normal(t.size)).astype(np.float32)
