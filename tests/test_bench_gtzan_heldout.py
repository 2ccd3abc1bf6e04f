"""benchmarks/gtzan_heldout.py: the manifest of issue 12's split (train 00000-00003, valid 00004, test the rest)."""
from __future__ import annotations

import pathlib

import bench_scripts
import numpy as np
import pytest
import soundfile as sf

from mgc_jax.data import manifest


@pytest.fixture(scope="module")
def heldout():
    return bench_scripts.load("gtzan_heldout")


def write_gtzan(root: pathlib.Path, numbers, genres=("blues", "rock")) -> pathlib.Path:
    noise = np.random.default_rng(0).standard_normal(22050).astype(np.float32) * 0.1
    for g in genres:
        (root / g).mkdir(parents=True, exist_ok=True)
        for n in numbers:
            sf.write(root / g / f"{g}.{n:05d}.wav", noise, 22050)
    return root


def test_manifest_splits_the_tracks_and_tests_only_on_tracks_the_mini_set_lacks(tmp_path, heldout):
    mini = write_gtzan(tmp_path / "mini", range(5))
    extra = write_gtzan(tmp_path / "extra", range(3, 8))  # 00003-00004 are mini's: not test tracks
    out = tmp_path / "w" / "heldout.csv"
    counts = heldout.write_manifest(mini, extra, out)

    found = manifest.read(out)
    split = {t.track_id: t.split for t in found.tracks}
    assert not found.skipped and found.classes == ("blues", "rock")
    assert {tid for tid, s in split.items() if s == "train"} == {f"{g}.{n:05d}" for g in ("blues", "rock")
                                                                 for n in range(4)}
    assert {tid for tid, s in split.items() if s == "valid"} == {"blues.00004", "rock.00004"}
    test = {t.track_id: t.path for t in found.tracks if t.split == "test"}
    assert set(test) == {f"{g}.{n:05d}" for g in ("blues", "rock") for n in range(5, 8)}
    assert all(pathlib.Path(p).parent.parent == extra for p in test.values())
    # Sturm's index: blues 0-9 are all John Lee Hooker; rock 0-7 all Morphine
    assert counts == {"train": 8, "valid": 2, "test": 6, "test_sharing_an_artist": 6}
    assert {t.artist for t in found.tracks if t.genre == "blues"} == {"John Lee Hooker"}


def test_no_new_track_is_a_clear_error(tmp_path, heldout):
    mini = write_gtzan(tmp_path / "mini", range(5))
    with pytest.raises(SystemExit, match="nothing to test on"):
        heldout.write_manifest(mini, mini, tmp_path / "heldout.csv")
