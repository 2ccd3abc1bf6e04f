"""dsp.config: FeatureConfig's checks (each field by name) and hash."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from dsp.config import ConfigError, FeatureConfig


@pytest.mark.parametrize("kw,message", [
    ({"brightness_cutoff_hz": 11025.0}, r"^FeatureConfig\.brightness_cutoff_hz=11025\.0: must be in \(0, 11025\) Hz, "
                                        "below the Nyquist"),
    ({"brightness_cutoff_hz": 30000}, r"^FeatureConfig\.brightness_cutoff_hz=30000\.0: .*Nyquist"),
    ({"roughness_contrast": math.inf}, r"^FeatureConfig\.roughness_contrast=inf: must be finite"),
    ({"key_contrast": math.nan}, r"^FeatureConfig\.key_contrast=nan: must be finite"),
    ({"min_rms_brightness": 2.0}, r"^FeatureConfig\.min_rms_brightness=2\.0: must be in \[0, 1\)"),
    ({"min_rms_entropy": math.nan}, r"^FeatureConfig\.min_rms_entropy=nan: must be finite"),
    ({"min_rms_flatness": -1}, r"^FeatureConfig\.min_rms_flatness=-1\.0: must be in \[0, 1\)"),
    ({"sample_rate": 22050.5}, r"^FeatureConfig\.sample_rate=22050\.5: must be an int, got float"),
    ({"sample_rate": True}, r"^FeatureConfig\.sample_rate=True: must be an int, got bool"),
    ({"sample_rate": 0}, r"^FeatureConfig\.sample_rate=0: must be >= 1 Hz"),
    ({"key_window_s": 0}, r"^FeatureConfig\.key_window_s=0\.0: must be > 0 s"),
    ({"key_hop_s": -3.0}, r"^FeatureConfig\.key_hop_s=-3\.0: must be > 0 s"),
    ({"frame_length": 1024.0}, r"^FeatureConfig\.frame_length=1024\.0: must be an int, got float"),
    ({"frame_length": 1}, r"^FeatureConfig\.frame_length=1: must be >= 2"),
    ({"max_peaks": "128"}, r"^FeatureConfig\.max_peaks='128': must be an int, got str"),
    ({"brightness_cutoff_hz": "1500"}, r"^FeatureConfig\.brightness_cutoff_hz='1500': must be a number"),
    ({"window": "hann"}, r"^FeatureConfig\.window='hann': only the symmetric 'hamming'"),
])
def test_bad_values_are_refused_naming_the_field_given(kw, message):
    with pytest.raises(ConfigError, match=message):
        FeatureConfig(**kw)


def test_numeric_types_are_normalised_before_hashing():
    default = FeatureConfig()
    same = FeatureConfig(brightness_cutoff_hz=1500, sample_rate=np.int64(22050), key_window_s=6,
                         min_rms_flatness=0.01)
    assert same == default and same.hash() == default.hash() and hash(same) == hash(default)
    assert type(same.brightness_cutoff_hz) is float and type(same.sample_rate) is int
    assert FeatureConfig.from_dict(json.loads(json.dumps(default.to_dict()))) == default
