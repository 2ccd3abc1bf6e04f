"""mgc_jax.data.corpus.prepare_corpus: a corpus from a folder, a manifest or the synthetic default, extracted once,
with its unusable tracks and classes named (DSP replaced by tests/support/fake_extraction.py where only the
bookkeeping is under test)."""
from __future__ import annotations

import fake_extraction
import pytest

from mgc_jax.data.corpus import prepare_corpus
from mgc_jax.errors import DataError
from mgc_jax.workdir import Workdir


@pytest.mark.parametrize("value", [-5, 0])
def test_prepare_corpus_refuses_a_synthetic_size_below_one(value, tmp_path):
    with pytest.raises(DataError, match=f"tracks_per_genre={value}: the synthetic corpus needs an int >= 1"):
        prepare_corpus(None, Workdir(tmp_path / "w"), tracks_per_genre=value, progress=False)
    assert not (tmp_path / "w").exists()


def test_a_synthetic_corpus_left_with_one_genre_is_refused(tmp_path, monkeypatch):
    import shutil

    fake_extraction.install(monkeypatch, "ones")
    wd = Workdir(tmp_path / "w")
    corpus = prepare_corpus(None, wd, tracks_per_genre=1, progress=False)
    for genre_dir in (corpus.root / "genres").iterdir():
        if genre_dir.name != "rock":
            shutil.rmtree(genre_dir)
    with pytest.raises(DataError, match=r"every usable track is of one class \(rock\)"):
        prepare_corpus(None, wd, tracks_per_genre=1, progress=False)
