"""mgc_jax.data.folder: a labelled folder (one sub-folder per class, any file names) scanned into tracks, with
every file not used named."""
from __future__ import annotations

import pathlib

import numpy as np
import soundfile as sf
from corpus_files import CLASSES, ISSUE_FILES, MORE_FILES, my_music
from encoded_audio import encode

from mgc_jax.data import folder, sources
from mgc_jax.data.track import SAFE_ID, UNLABELLED, path_track_id
from mgc_jax.workdir import WORKDIR_CAUSE


def test_labelled_folder_with_free_names(tmp_path):
    root = my_music(tmp_path)
    (root / "Beats" / "loop.M4A").write_bytes(b"\0\0\0\x20ftypM4A ")
    assert sources.kind_of(root) == "folder"
    found = sources.find(root)  # for training: the file beside the class folders is not used
    assert found.classes == CLASSES
    rels = sorted(ISSUE_FILES + MORE_FILES)
    assert sorted(pathlib.Path(t.path).relative_to(root).as_posix() for t in found.tracks) == rels
    for t in found.tracks:
        rel = pathlib.Path(t.path).relative_to(root).as_posix()
        assert t.track_id == path_track_id(rel) and SAFE_ID.match(t.track_id)
        assert t.genre == rel.split("/")[0] and t.artist is None and t.split is None
    ids = [t.track_id for t in found.tracks]
    assert len(set(ids)) == len(ids)  # "a_b.wav" and "a b.wav" slug alike, hash apart
    assert path_track_id("Beats/beat-1.wav").startswith("Beats_beat_1_wav-")
    causes = {pathlib.Path(p).relative_to(root).as_posix(): c for p, c in found.skipped}
    assert set(causes) == {"Acoustic/cover.jpg", "Beats/broken.wav", "Beats/loop.M4A", "Notes/readme.txt", "Notes",
                           "loose.wav"}
    # .m4a is an audio name (FFmpeg decodes M4A); these 8 bytes are only the start of one.
    assert causes["Beats/loop.M4A"].startswith("not an audio file, or a damaged one (FFmpeg's mov reader: ")
    assert causes["Beats/broken.wav"].startswith("empty file")
    assert "not an audio file name" in causes["Acoustic/cover.jpg"]
    assert "not a class" in causes["Notes"] and "beside the class folders" in causes["loose.wav"]


def test_a_labelled_folder_takes_every_format_the_decoder_reads(tmp_path):
    x = 0.3 * np.random.default_rng(0).standard_normal(22050 * 2)
    root = tmp_path / "lib"
    made = ["Pop/a.mp3", "Pop/b.M4A", "Pop/c.opus", "Rock/d.wma", "Rock/e.mp4", "Rock/f.flac", "Rock/g.aiff"]
    for rel, (codec, fmt) in zip(made, [("libmp3lame", "mp3"), ("aac", "mp4"), ("libopus", "ogg"), ("wmav2", "asf"),
                                        ("alac", "mp4"), ("flac", "flac"), ("pcm_s16be", "aiff")]):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        encode(root / rel, x, 48000 if codec == "libopus" else 22050, codec, fmt)
    found = folder.scan(root)
    assert sorted(pathlib.Path(t.path).relative_to(root).as_posix() for t in found.tracks) == made
    assert found.skipped == [] and found.classes == ("Pop", "Rock")


def test_track_ids_follow_the_relative_path_not_the_location(tmp_path):
    a = folder.scan(my_music(tmp_path / "here")).tracks
    b = folder.scan(my_music(tmp_path / "elsewhere")).tracks
    assert [t.track_id for t in a] == [t.track_id for t in b]
    here, elsewhere = tmp_path / "here" / "my music", tmp_path / "elsewhere" / "my music"
    assert sources.corpus_name(here) == sources.corpus_name(str(here) + "/")  # the same folder, however written
    assert sources.corpus_name(here) != sources.corpus_name(elsewhere)


# ----------------------------------------------- files beside the class folders, workdirs inside the corpus


def _wav(path, seconds=1.0):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.full(int(seconds * 22050), 0.1, np.float32), 22050)
    return path


def test_files_beside_the_class_folders_are_tracks_without_a_class(tmp_path):
    _wav(tmp_path / "A" / "a.wav")
    _wav(tmp_path / "loose.wav", seconds=2.0)
    found = folder.scan(tmp_path)
    assert sorted(t.genre for t in found.tracks) == [UNLABELLED, "A"] and found.classes == ("A",)
    assert found.seconds == {str(tmp_path / "A" / "a.wav"): 1.0, str(tmp_path / "loose.wav"): 2.0}


def test_a_folder_of_audio_files_alone_has_tracks_and_no_class(tmp_path):
    for i in range(3):
        _wav(tmp_path / f"{i}.wav")
    found = folder.scan(tmp_path)
    assert len(found.tracks) == 3 and found.classes == () and not found.skipped


def test_a_workdir_anywhere_below_the_root_is_skipped_and_named(tmp_path):
    _wav(tmp_path / "A" / "a.wav")
    _wav(tmp_path / "B" / "b.wav")
    deep = tmp_path / "B" / "runs here"
    _wav(deep / "corpora" / "synthetic" / "genres" / "blues" / "blues.00000.wav")  # a default run's corpus
    named = tmp_path / "A" / "mine"
    _wav(named / "x.wav")  # any folder given as `exclude` (the --workdir), whatever it holds
    found = folder.scan(tmp_path, exclude=(named,))
    assert sorted(t.path for t in found.tracks) == [str(tmp_path / "A" / "a.wav"), str(tmp_path / "B" / "b.wav")]
    assert (str(deep), WORKDIR_CAUSE) in found.skipped and (str(named), WORKDIR_CAUSE) in found.skipped
    assert found.classes == ("A", "B")


def test_files_not_used_carry_their_class(tmp_path):
    _wav(tmp_path / "A" / "a.wav")
    (tmp_path / "A" / "empty.wav").write_bytes(b"")
    (tmp_path / "A" / "notes.txt").write_text("x")
    found = folder.scan(tmp_path)
    assert found.skipped_class == {str(tmp_path / "A" / "empty.wav"): "A", str(tmp_path / "A" / "notes.txt"): "A"}
