"""dsp.config: FeatureConfig's checks and hash, and the dsp code hash."""
from __future__ import annotations

import pathlib
import shutil

import dsp
from dsp.config import code_hash

DSP = pathlib.Path(dsp.__file__).parent


def _copy(tmp_path) -> pathlib.Path:
    out = tmp_path / "dsp"
    shutil.copytree(DSP, out, ignore=shutil.ignore_patterns("__pycache__"))
    return out


def test_code_hash_is_the_packages_and_ignores_comments_docstrings_and_layout(tmp_path):
    copy = _copy(tmp_path)
    assert code_hash(copy) == code_hash() == dsp.code_hash()
    spectral = copy / "spectral.py"
    text = spectral.read_text()
    edited = text.replace('"""Root mean square of each raw frame', '"""RMS of each raw frame (reworded)', 1)
    edited = edited.replace("\ndef rms(", "\n# a new comment\n\n\ndef rms(", 1)
    assert edited != text
    spectral.write_text(edited)
    assert code_hash(copy) == code_hash()


def test_code_hash_changes_with_behaviour(tmp_path):
    copy = _copy(tmp_path)
    spectral = copy / "spectral.py"
    text = spectral.read_text()
    line = "    return safe_sqrt(jnp.mean(jnp.square(frames / s), axis=-1)) * s[..., 0]"
    assert line in text
    spectral.write_text(text.replace(line, line + " * 2"))  # rms doubled
    assert code_hash(copy) != code_hash()
