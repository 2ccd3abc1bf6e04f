"""mgc_jax.data.cache: FeatureCache.load and its index; a damaged array or index is refused naming the file (and
rebuilt by extraction, tests/test_extraction.py)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from damaged_files import npy
from fake_extraction import noise_tracks

import dsp
from mgc_jax.data import cache, extraction
from mgc_jax.errors import DataError

CFG = dsp.FeatureConfig()


def test_load_errors_name_the_problem(tmp_path, fake_maps):
    tracks = noise_tracks(tmp_path / "audio", lengths=(7.0,))
    extraction.extract(tracks, tmp_path / "f", CFG, progress=False)
    fc = cache.FeatureCache(tmp_path / "f")
    with pytest.raises(DataError, match="not in the feature cache"):
        fc.load("jazz.00054", "music")
    with pytest.raises(DataError, match="unknown feature kind"):
        fc.load("blues.00000", "chroma")
    np.save(tmp_path / "f" / "blues.00000.music.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match="unreadable feature file"):  # object arrays need pickle: refused
        fc.load("blues.00000", "music", mmap=False)


@pytest.mark.parametrize("mmap", [True, False])
@pytest.mark.parametrize("damage", ["truncated", "header only", "garbage bytes", "directory"])
def test_load_refuses_an_unreadable_array_naming_it(fake_extracted, damage, mmap):
    _, directory = fake_extracted
    path = npy(directory)
    data = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(data[:-100])
    elif damage == "header only":
        path.write_bytes(data[:40])
    elif damage == "garbage bytes":
        path.write_bytes(b"\x00\xffnot an array" * 10)
    else:
        path.unlink()
        path.mkdir()
    with pytest.raises(DataError, match=f"^{path}: unreadable feature file .*run the extraction again"):
        cache.FeatureCache(directory).load("blues.00000", "music", mmap=mmap)


@pytest.mark.parametrize("damage", ["wrong shape", "float64"])
def test_load_refuses_an_array_that_does_not_match_its_index_entry(fake_extracted, damage):
    _, directory = fake_extracted
    path = npy(directory)
    good = np.load(path)
    np.save(path, good[:-1] if damage == "wrong shape" else good.astype(np.float64))
    with pytest.raises(DataError, match=str(path)):
        cache.FeatureCache(directory).load("blues.00000", "music")


@pytest.mark.parametrize("content", [b"\x89\xff\xfe\x00 binary garbage", b"", b'{"format": 1, "tracks": {"blues.0',
                                     b"[]", b'"an index"', b'{"format": 1}', b'{"format": 99, "tracks": {}}'],
                         ids=["binary", "empty", "cut", "list", "string", "no tracks", "other format"])
def test_garbage_index_is_refused_by_load_and_extract_naming_it(fake_extracted, content):
    tracks, directory = fake_extracted
    index = directory / "index.json"
    index.write_bytes(content)
    with pytest.raises(DataError, match=f"^{index}: (not valid JSON|not a feature index of this version)"):
        cache.FeatureCache(directory)
    with pytest.raises(DataError, match=f"^{index}: "):
        extraction.extract(tracks, directory, CFG, progress=False)


@pytest.mark.parametrize("entry", ["a string", {"files": "x"}, "missing files"], ids=["string", "files not a dict",
                                                                                     "no files"])
def test_a_damaged_index_entry_is_rebuilt_by_extract_and_refused_by_load(fake_extracted, entry):
    tracks, directory = fake_extracted
    index = json.loads((directory / "index.json").read_text())
    if entry == "missing files":
        del index["tracks"]["blues.00000"]["files"]
    else:
        index["tracks"]["blues.00000"] = entry
    (directory / "index.json").write_text(json.dumps(index))
    with pytest.raises(DataError, match="blues.00000"):
        cache.FeatureCache(directory).load("blues.00000", "music")
    report = extraction.extract(tracks, directory, CFG, progress=False)
    assert report.done == ["blues.00000"]
