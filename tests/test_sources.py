"""mgc_jax.data.sources: which kind of corpus a path is (GTZAN layout, labelled folder, manifest), its name, and the
tracks it offers."""
from __future__ import annotations

import numpy as np
import pytest
from corpus_files import tone_file

from mgc_jax.data import corpus, gtzan, sources
from mgc_jax.errors import DataError
from mgc_jax.workdir import WORKDIR_CAUSE, Workdir


def test_a_folder_needs_two_classes(tmp_path):
    tone_file(tmp_path / "solo" / "Only" / "a.wav")
    with pytest.raises(DataError, match=r"only 1 class \(Only\): a corpus needs at least 2 class folders"):
        corpus.prepare_corpus(str(tmp_path / "solo"), Workdir(tmp_path / "ws"), progress=False)


def test_gtzan_layouts_stay_gtzan(tmp_path, fast_extract):
    plain = tmp_path / "gtzan"
    for name in ("pop/pop.00000.wav", "rock/rock.00001.wav", "rock/my extra.wav"):
        tone_file(plain / name)
    assert sources.kind_of(plain) == "gtzan" and sources.corpus_name(plain) == "gtzan"
    c = corpus.prepare_corpus(str(plain), Workdir(tmp_path / "ws"), progress=False)
    assert (c.kind, c.name, c.classes) == ("gtzan", "gtzan", gtzan.GENRES)
    assert [t.track_id for t in c.tracks] == ["pop.00000", "rock.00001"]
    assert list(c.labels(["pop.00000", "rock.00001"])) == [7, 9]  # GENRES indices, as before
    assert any("GTZAN track naming" in cause for _, cause in c.problems)
    tone_file(tmp_path / "arch" / "genres" / "jazz" / "jazz.00002.au")
    tone_file(tmp_path / "arch" / "genres" / "polka" / "p.wav")  # stray folder: reported by gtzan.scan
    assert sources.kind_of(tmp_path / "arch") == "gtzan"


def test_genre_named_folders_with_free_names_are_a_labelled_folder(tmp_path):
    tone_file(tmp_path / "mine" / "blues" / "my song.wav")
    tone_file(tmp_path / "mine" / "rock" / "x.wav")
    assert sources.kind_of(tmp_path / "mine") == "folder"
    assert sources.find(tmp_path / "mine").classes == ("blues", "rock")
    tone_file(tmp_path / "mixed" / "blues" / "blues.00001.wav")
    tone_file(tmp_path / "mixed" / "Other" / "x.wav")  # a non-genre folder: not GTZAN
    assert sources.kind_of(tmp_path / "mixed") == "folder"


def test_kind_and_name_of_odd_paths(tmp_path):
    with pytest.raises(DataError, match="no such folder"):
        sources.kind_of(tmp_path / "nowhere")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(DataError, match="not a folder, and not a .csv manifest"):
        sources.kind_of(tmp_path / "notes.txt")
    assert sources.corpus_name(tmp_path / "gtzan") == "gtzan"  # absent: named by its folder (launch.fuse)
    assert sources.corpus_name(None) == "synthetic"
    assert sources.corpus_name(tmp_path / "My Corpus.CSV").startswith("My_Corpus-")


def test_a_corpus_with_no_usable_track_names_the_files_and_why(tmp_path):
    for i in range(4):
        tone_file(tmp_path / "flat" / f"t{i}.wav", seed=i)
    with pytest.raises(DataError, match=r"flat: no usable track \(4 files not used: .*t0.wav: a file beside the class "
                                        r"folders \(expected <class>/<file>\); .*; and 1 more\)$"):
        corpus.prepare_corpus(str(tmp_path / "flat"), Workdir(tmp_path / "ws"), progress=False)


# ------------------------------------------------------------------------- absurd --data_dir (issue 26 item 5)


@pytest.mark.parametrize("value", ["", "  ", "/", "~", "HOME"])
def test_an_absurd_data_dir_is_refused_in_one_line_before_any_walk(value, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "a" / "x.wav").parent.mkdir(parents=True)
    value = str(tmp_path) if value == "HOME" else value
    what = "is empty" if not value.strip() else ("file-system root" if value == "/" else "home folder")
    for fn in (sources.find, sources.kind_of, sources.corpus_name):
        with pytest.raises(DataError, match=what) as err:
            fn(value)
        assert "\n" not in str(err.value)


def test_a_folder_inside_home_is_a_corpus_name_still(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "music").mkdir()
    assert sources.corpus_name(tmp_path / "music").startswith("music-")


def test_a_workdir_inside_a_gtzan_folder_keeps_it_gtzan(tmp_path):
    import soundfile as sf

    root = tmp_path / "gtzan"
    for g in ("blues", "rock"):
        (root / g).mkdir(parents=True)
        sf.write(root / g / f"{g}.00000.wav", np.zeros(22050, np.float32) + 0.1, 22050)
    ws = root / "workspace"
    (ws / "corpora" / "synthetic" / "genres" / "blues").mkdir(parents=True)
    sf.write(ws / "corpora" / "synthetic" / "genres" / "blues" / "blues.00000.wav", np.ones(22050) * 0.1, 22050)
    (ws / "features").mkdir()
    assert sources.kind_of(root) == "gtzan" and sources.corpus_name(root) == "gtzan"
    found = sources.find(root, exclude=(ws,))
    assert {t.genre for t in found.tracks} == {"blues", "rock"}
    assert (str(ws), WORKDIR_CAUSE) in found.skipped


def test_audio_beside_the_class_folders_is_kept_for_extraction_only(tmp_path):
    import soundfile as sf

    for p in ("A/a.wav", "B/b.wav", "loose.wav"):
        (tmp_path / p).parent.mkdir(parents=True, exist_ok=True)
        sf.write(tmp_path / p, np.full(22050, 0.1, np.float32), 22050)
    labelled = sources.find(tmp_path)
    assert [t.genre for t in labelled.tracks] == ["A", "B"]
    beside = "a file beside the class folders (expected <class>/<file>)"
    assert (str(tmp_path / "loose.wav"), beside) in labelled.skipped
    free = sources.find(tmp_path, labelled=False)
    assert sorted(t.genre for t in free.tracks) == ["", "A", "B"] and free.classes == ("A", "B")
