"""A small real-looking corpus for end-to-end tests of training on audio: two genres x 10 synthetic tracks of 8 s
in a GTZAN-layout folder (10 per genre: the fewest a 10-fold stratified split takes; fold 0 then trains on 16
tracks of 4 clips and tests on 2)."""
from __future__ import annotations

import pathlib

GENRES = ("blues", "rock")  # GTZAN names, so the labels are GTZAN genre indices
SECONDS = 8.0
PER_GENRE = 10


def two_genre_corpus(root) -> pathlib.Path:
    """Write `<root>/genres/<g>/<g>.NNNNN.wav` (float WAV at 22,050 Hz) once; returns root."""
    import soundfile as sf

    from mgc_jax.data import synthetic

    root = pathlib.Path(root)
    for g in GENRES:
        folder = root / "genres" / g
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(PER_GENRE):
            path = folder / f"{g}.{i:05d}.wav"
            if not path.exists():
                x = synthetic.render_track(g, i, n_samples=int(SECONDS * synthetic.SAMPLE_RATE), seed=0)
                sf.write(path, x, synthetic.SAMPLE_RATE, subtype="FLOAT")
    return root
