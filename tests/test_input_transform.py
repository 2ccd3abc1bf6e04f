"""mgc_jax.nets.input_transform: the STFT map transforms (TrainConfig.stft_transform: none, log1p, dB)."""
from __future__ import annotations

import numpy as np
import pytest

from mgc_jax.nets import input_transform as it


def test_transform_values():
    x = np.array([[0.0, 1.0, np.e - 1, 1e-9, 100.0]], np.float32)
    np.testing.assert_allclose(it.transform_stft(x, "log1p"), [[0.0, np.log(2), 1.0, 1e-9, np.log(101)]], rtol=1e-6)
    np.testing.assert_allclose(it.transform_stft(x, "db"), [[-100.0, 0.0, 20 * np.log10(np.e - 1), -100.0, 40.0]],
                               rtol=1e-6)
    assert it.transform_stft(x, "db").dtype == np.float32
    assert it.transform_stft(x, "none") is x
    with pytest.raises(ValueError, match="stft_transform='log'"):
        it.transform_stft(x, "log")


def test_map_transform_touches_the_stft_map_only():
    assert it.map_transform("none") is None
    f = it.map_transform("log1p")
    x = {"stft": np.full((2, 3), 3.0, np.float32), "music": np.full((2, 8), 3.0, np.float32)}
    y = f(x)
    np.testing.assert_allclose(y["stft"], np.log(4.0), rtol=1e-6)
    assert y["music"] is x["music"]
    with pytest.raises(ValueError, match="expected one of"):
        it.map_transform("sqrt")
