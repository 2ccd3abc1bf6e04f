"""The numbers of Senac et al., CBMI 2017 that our tables are printed beside: Table 2 (accuracy per system) and
Table 1 (row-normalised confusions), and later results on the fault-filtered GTZAN split.
"""
from __future__ import annotations

import types

import numpy as np

GENRES = ("blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock")

# system -> (mean accuracy %, 95 % CI half-width %)
TABLE2 = types.MappingProxyType({
    "net_STFT": (87.8, 1.8),
    "net_MUSIC": (89.6, 2.4),
    "FUSION1": (90.5, 0.7),
    "FUSION2": (91.0, 1.2),
})

ZHANG2016_GTZAN = 87.4  # Zhang et al., Interspeech 2016, as cited by Senac et al. (the architecture they follow)


def _matrix(rows: list[list[int]]) -> np.ndarray:
    a = np.array(rows, dtype=np.int64)
    a.setflags(write=False)  # module-level reference data: never modified in place
    return a


TABLE1 = types.MappingProxyType({
    "net_STFT": _matrix([
        [87, 0, 0, 3, 2, 1, 0, 0, 0, 7],
        [0, 98, 0, 0, 0, 0, 0, 0, 0, 2],
        [0, 0, 91, 2, 0, 0, 0, 2, 2, 3],
        [0, 0, 2, 86, 5, 0, 0, 3, 0, 4],
        [2, 0, 0, 2, 83, 0, 0, 5, 6, 2],
        [0, 1, 3, 0, 0, 94, 0, 2, 0, 0],
        [2, 0, 2, 0, 2, 0, 91, 0, 0, 3],
        [0, 0, 2, 1, 4, 0, 0, 82, 3, 8],
        [0, 0, 0, 1, 5, 0, 0, 4, 85, 5],
        [1, 0, 4, 4, 2, 0, 3, 5, 1, 80],
    ]),
    "net_MUSIC": _matrix([
        [100, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        [0, 98, 0, 0, 0, 2, 0, 0, 0, 0],
        [0, 0, 88, 5, 0, 3, 0, 2, 2, 0],
        [0, 0, 0, 88, 4, 0, 1, 3, 4, 0],
        [0, 0, 0, 0, 93, 0, 0, 3, 4, 0],
        [0, 4, 0, 0, 0, 94, 0, 2, 0, 0],
        [0, 0, 0, 2, 0, 0, 98, 0, 0, 0],
        [0, 0, 4, 0, 5, 2, 0, 84, 1, 4],
        [0, 0, 3, 0, 3, 0, 0, 6, 88, 0],
        [8, 0, 9, 6, 0, 1, 0, 9, 5, 62],
    ]),
    "FUSION2": _matrix([
        [98, 0, 0, 0, 0, 2, 0, 0, 0, 0],
        [0, 100, 0, 0, 0, 0, 0, 0, 0, 0],
        [2, 0, 92, 2, 0, 2, 0, 0, 2, 0],
        [0, 0, 0, 92, 6, 0, 0, 2, 0, 0],
        [0, 0, 0, 0, 92, 0, 0, 4, 4, 0],
        [0, 4, 0, 0, 0, 94, 0, 2, 0, 0],
        [2, 0, 2, 0, 2, 0, 92, 0, 0, 2],
        [0, 0, 4, 2, 4, 0, 0, 86, 0, 4],
        [0, 0, 0, 0, 2, 0, 0, 6, 88, 4],
        [4, 0, 2, 6, 2, 0, 2, 4, 4, 76],
    ]),
})

# Fault-filtered GTZAN test set (290 tracks): name -> accuracy % (docs/features.md §4.3, confirmed entries only).
FILTERED_REFERENCES = types.MappingProxyType({
    "Jukebox (JukeMIR), Castellon et al. 2021": 79.7,
    "CLMR, as reported by Castellon et al. 2021": 68.6,
})

CITATION = ("Senac, Pellegrini, Mouchet, Pinquier, \"Music feature maps with convolutional neural networks "
            "for music genre classification\", CBMI 2017")
