"""mgc_jax.data.folder: a labelled folder (one sub-folder per class, any file names) scanned into tracks, with
every file not used named."""
from __future__ import annotations

import pathlib

import numpy as np
from corpus_files import CLASSES, ISSUE_FILES, MORE_FILES, my_music
from encoded_audio import encode

from mgc_jax.data import folder, sources
from mgc_jax.data.track import SAFE_ID, path_track_id


def test_labelled_folder_with_free_names(tmp_path):
    root = my_music(tmp_path)
    (root / "Beats" / "loop.M4A").write_bytes(b"\0\0\0\x20ftypM4A ")
    assert sources.kind_of(root) == "folder"
    found = folder.scan(root)
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
