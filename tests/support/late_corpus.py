"""Two classes that differ only after 29 s of 90 s tracks (issue 24: whole tracks, not their first 18 clips).

Every track opens with 29 s drawn from one distribution for both classes: a synthetic track of a genre picked at
random among eight (`INTRO_GENRES`), each track its own key, tempo and timbre. After a 1 s crossfade at 29 s comes
61 s of the class's own genre (`TAIL_GENRES`: classical for "alpha", metal for "beta": the synthetic genres farthest
apart, since a fold trains on 4 tracks per class), scaled to the intro's RMS, so
neither the first clips nor the loudness tell the classes apart: a net that judges a track by its first 28 s is at
chance. Files are labelled folders `<root>/<class>/<class>_NN.wav` (16-bit PCM, 22,050 Hz).
"""
from __future__ import annotations

import pathlib

import numpy as np

INTRO_GENRES = ("blues", "country", "disco", "hiphop", "jazz", "pop", "reggae", "rock")
TAIL_GENRES = {"alpha": "classical", "beta": "metal"}
SECONDS = 90.0
SPLIT_S = 29.0  # the classes differ from here on
PER_CLASS = 12  # 3 folds: 4 test, 4 validation and 4 training tracks per class and fold


def late_track(cls: str, index: int, *, seconds: float = SECONDS, split_s: float = SPLIT_S,
               seed: int = 0) -> np.ndarray:
    """float32 [seconds * 22050]: a shared-distribution intro, then class `cls`'s genre from `split_s` on."""
    from mgc_jax.data.synthetic import SAMPLE_RATE, render_track

    n, cut, fade = int(seconds * SAMPLE_RATE), int(split_s * SAMPLE_RATE), int(0.5 * SAMPLE_RATE)
    rng = np.random.default_rng([seed, 7, index, list(TAIL_GENRES).index(cls)])
    intro_genre = INTRO_GENRES[int(rng.integers(len(INTRO_GENRES)))]
    intro = render_track(intro_genre, 500 + int(rng.integers(10**6)), n_samples=cut + fade, seed=seed)
    intro = intro.astype(np.float64)
    tail = render_track(TAIL_GENRES[cls], index, n_samples=n - cut + fade, seed=seed + 1).astype(np.float64)
    rms = lambda v: float(np.sqrt(np.mean(v ** 2)))
    tail *= rms(intro) / max(rms(tail), 1e-9)
    ramp = np.linspace(0.0, 1.0, 2 * fade)
    x = np.concatenate([intro[:cut - fade], intro[cut - fade:] * (1 - ramp) + tail[:2 * fade] * ramp, tail[2 * fade:]])
    return (x * min(1.0, 0.98 / np.abs(x).max())).astype(np.float32)


def late_corpus(root, per_class: int = PER_CLASS, seed: int = 0) -> pathlib.Path:
    """Write the corpus under `root` once (existing files are kept); returns root."""
    import soundfile as sf

    from mgc_jax.data.synthetic import SAMPLE_RATE

    root = pathlib.Path(root)
    for cls in TAIL_GENRES:
        (root / cls).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            path = root / cls / f"{cls}_{i:02d}.wav"
            if not path.exists():
                sf.write(path, late_track(cls, i, seed=seed), SAMPLE_RATE, subtype="PCM_16")
    return root
