"""mgc_jax.data.gtzan: the three layouts, track ids, bad files reported with causes, clear refusals."""
from __future__ import annotations

import pathlib

import messy_corpus
import numpy as np
import pytest
import soundfile as sf

from mgc_jax.data import gtzan
from mgc_jax.errors import DataError


def _tone(path: pathlib.Path, seconds: float = 0.2):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, 0.1 * np.sin(np.arange(int(22050 * seconds)) * 0.05), 22050)


def test_genres_are_gtzans_ten_in_label_order():
    assert gtzan.GENRES == ("blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop",
                            "reggae", "rock")
    assert [gtzan.label(g) for g in gtzan.GENRES] == list(range(10))
    with pytest.raises(DataError, match="unknown genre"):
        gtzan.label("polka")


@pytest.mark.parametrize("layout", ["genres", "genres_original", ""])
def test_each_layout_is_found(tmp_path, layout):
    base = tmp_path / layout if layout else tmp_path
    for name in ("rock/rock.00002.wav", "blues/blues.00010.wav", "blues/blues.00001.wav"):
        _tone(base / name)
    tracks = gtzan.discover(tmp_path)
    assert [t.track_id for t in tracks] == ["blues.00001", "blues.00010", "rock.00002"]
    assert [t.genre for t in tracks] == ["blues", "blues", "rock"]
    assert tracks[0].path == str(base / "blues" / "blues.00001.wav")


def test_root_may_be_the_genres_folder_itself(tmp_path):
    _tone(tmp_path / "genres" / "pop" / "pop.00000.wav")
    assert [t.track_id for t in gtzan.discover(tmp_path / "genres")] == ["pop.00000"]


def test_original_layout_wins_over_the_reencoded_one(tmp_path):
    _tone(tmp_path / "genres" / "pop" / "pop.00000.au")
    _tone(tmp_path / "genres_original" / "pop" / "pop.00000.wav")
    found = gtzan.scan(tmp_path)
    assert found.base == str(tmp_path / "genres")
    assert [pathlib.Path(t.path).suffix for t in found.tracks] == [".au"]


def test_mixed_folder_keeps_good_tracks_and_reports_bad_ones(tmp_path):
    root = messy_corpus.make(tmp_path, messy_corpus.shared_or_none())
    found = gtzan.scan(root)
    assert [t.track_id for t in found.tracks] == list(messy_corpus.GOOD)
    causes = {str(pathlib.Path(p).relative_to(root / "genres")): c for p, c in found.skipped}
    assert set(causes) == set(messy_corpus.BAD)
    for name, cause in messy_corpus.BAD.items():
        assert causes[name].startswith(cause), (name, causes[name])


def test_odd_entries_are_reported_not_guessed(tmp_path):
    base = tmp_path / "genres"
    _tone(base / "blues" / "blues.00000.wav")
    _tone(base / "blues" / "my song.wav")  # not GTZAN naming
    _tone(base / "blues" / "rock.00004.wav")  # a rock track in the blues folder
    _tone(base / "blues" / "blues.00000.aiff")  # same track id twice: the first by file name is kept
    _tone(base / "polka" / "polka.00000.wav")  # not a GTZAN genre
    (base / "blues" / "blues.00007.au").mkdir()  # a folder named like a track
    (base / "blues" / ".DS_Store").write_bytes(b"\0" * 10)  # hidden: ignored silently
    found = gtzan.scan(tmp_path)
    assert [t.track_id for t in found.tracks] == ["blues.00000"]
    causes = {pathlib.Path(p).name: c for p, c in found.skipped}
    assert set(causes) == {"my song.wav", "rock.00004.wav", "blues.00000.wav", "polka", "blues.00007.au"}
    assert "GTZAN track naming" in causes["my song.wav"]
    assert "rock track in the blues folder" in causes["rock.00004.wav"]
    assert causes["blues.00000.wav"].startswith("duplicate of track blues.00000")
    assert found.tracks[0].path.endswith("blues.00000.aiff")
    assert "not a GTZAN genre" in causes["polka"]
    assert "folder" in causes["blues.00007.au"]


def test_folder_without_genres_is_refused_with_the_expected_layouts(tmp_path):
    _tone(tmp_path / "music" / "song.wav")
    with pytest.raises(DataError) as err:
        gtzan.discover(tmp_path)
    msg = str(err.value)
    assert "genres/<g>/" in msg and "genres_original/<g>/" in msg and "blues" in msg and "rock" in msg


def test_missing_root_and_file_root_are_refused(tmp_path):
    with pytest.raises(DataError, match="no such folder"):
        gtzan.discover(tmp_path / "absent")
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(DataError, match="not a folder"):
        gtzan.discover(tmp_path / "f.txt")


def test_discover_refuses_a_corpus_with_no_readable_track(tmp_path):
    (tmp_path / "jazz").mkdir()
    (tmp_path / "jazz" / "jazz.00054.wav").write_bytes(b"")
    with pytest.raises(DataError, match="no readable track"):
        gtzan.discover(tmp_path)
    assert gtzan.scan(tmp_path).skipped[0][1].startswith("empty file")


def test_gtzan_dev_clips_are_discovered(shared_dir, gtzan_dev_clips):
    tracks = gtzan.discover(shared_dir / "gtzan_dev")
    assert [t.track_id for t in tracks] == [p.stem for p in gtzan_dev_clips]
    assert all(t.genre == t.track_id.split(".")[0] for t in tracks)
