"""mgc_jax.data.manifest: a CSV manifest (path, label and optional artist, split, track_id columns) read into
tracks; every bad row is one line naming the row."""
from __future__ import annotations

import os
import pathlib

import pytest
from corpus_files import tone_file, write_manifest

from mgc_jax.data import corpus, folder, manifest, sources
from mgc_jax.data.track import path_track_id
from mgc_jax.errors import DataError
from mgc_jax.workdir import Workdir


def test_manifest_with_every_optional_column(tmp_path, fast_extract):
    d = tmp_path / "data"
    outside = tone_file(tmp_path / "elsewhere" / "far away.wav", seed=9)
    for i in range(3):
        tone_file(d / "audio" / f"jazz {i}.wav", seed=i)
        tone_file(d / "audio" / f"ROCK_{i}.FLAC".replace(".FLAC", ".WAV"), seed=3 + i)
    m = write_manifest(d / "corpus.csv", "\ufeffPath, Label ,artist,split,track_id\n"
                  "audio/jazz 0.wav,jazz,Ann,train,\n"
                  "./audio/jazz 1.wav,jazz,Al,train,j1\n"
                  "audio/jazz 2.wav,jazz,Bob,test,\n"
                  "\n"
                  "audio/ROCK_0.WAV,rock,Cy,Train,r0\n"
                  f"{outside},rock,,valid,\n"
                  "audio/ROCK_1.WAV,rock,Dee,valid,\n"
                  '"audio/ROCK_2.WAV",rock,"Dee",test,\n'
                  "audio/gone.wav,rock,Eve,train,\n")
    found = manifest.read(m)
    assert found.classes == ("jazz", "rock") and found.base == str(d)
    by_id = {t.track_id: t for t in found.tracks}
    assert len(by_id) == 7 and {"j1", "r0"} <= set(by_id)
    assert by_id["j1"].path == str(d / "audio" / "jazz 1.wav") and by_id["j1"].artist == "Al"
    assert by_id["j1"].origin == "corpus.csv line 3"  # for messages about the row
    assert by_id["r0"].split == "train"  # any case
    derived = path_track_id("audio/jazz 0.wav")
    assert by_id[derived].split == "train" and by_id[derived].genre == "jazz"
    far = [t for t in found.tracks if t.path == str(outside)][0]
    assert far.artist is None and far.track_id == path_track_id(outside.as_posix())
    [(gone, cause)] = found.skipped
    assert gone == str(d / "audio" / "gone.wav") and cause == "corpus.csv line 10: no such file"

    wd = Workdir(tmp_path / "ws")
    c = corpus.prepare_corpus(str(m), wd, progress=False)
    assert c.kind == "manifest" and c.root == m and c.name.startswith("corpus-") and c.classes == ("jazz", "rock")
    fixed = c.split(wd, "manifest", 0)
    assert set(fixed.train) == {derived, "j1", "r0"} and set(fixed.test) == {path_track_id("audio/jazz 2.wav"),
                                                                               path_track_id("audio/ROCK_2.WAV")}
    with pytest.raises(DataError, match="folds 0..0"):
        c.split(wd, "manifest", 1)
    art = c.split(wd, "artist", 0, n_folds=3)
    groups = {}
    for t in c.tracks:
        if t.artist:
            groups.setdefault(t.artist, set()).add(t.track_id)
    for members in groups.values():  # an artist never straddles parts
        assert sum(bool(members & set(part)) for part in art) == 1
    with pytest.raises(DataError, match="GTZAN's fault-filtered"):
        c.split(wd, "filtered", 0)


@pytest.mark.parametrize("text,message", [
    ("path,label,genre\na.wav,x,y\n", r"m.csv line 1: unknown column 'genre' in column 3; columns are path, label"),
    ("path,artist\na.wav,x\n", r"m.csv line 1: no 'label' column"),
    ("path,label,\na.wav,x,\n", r"m.csv line 1: an empty column name"),
    ("path,label,label\na.wav,x,x\n", r"column 'label' appears twice"),
    ("path,label\na.wav,x\nb.wav, \n", r"m.csv line 3: empty label"),
    ("path,label\n,x\n", r"m.csv line 2: empty path"),
    ("path,label,track_id\na.wav,x,t1\nb.wav,y,t1\n", r"m.csv line 3: duplicate track id t1 \(also line 2\)"),
    ("path,label\na.wav,x\n./a.wav,y\n", r"m.csv line 3: duplicate track id a_wav-\w+ \(also line 2\)"),
    ("path,label,split\na.wav,x,training\n", r"m.csv line 2: split 'training' is not one of train, valid, test"),
    ("path,label,track_id\na.wav,x,my/id\n", r"m.csv line 2: track_id 'my/id' cannot name a cache file"),
    ("path,label,track_id\na.wav,x," + "t" * 300 + "\n",  # beyond the file-name limit: refused before extraction
     r"m.csv line 2: track_id 't{40}\.\.\.t{12}' is 300 bytes long; .* at most 200"),
    ("path,label\na.wav,x,extra\n", r"m.csv line 2: 3 cells, the header has 2"),
    ("path,label\n", r"m.csv: no rows after the header"),
    ("path,label,split\na.wav,x,train\nb.wav,y,\n", r"m.csv line 3: split '' is not one of train, valid, test; with a "
                                                     r"split column every row needs a value"),
    ("path,label,track_id\na.wav,x,ac1\nb.wav,y,Ac1\n", r"m.csv line 3: track id Ac1 differs only in case from ac1 "
                                                        r"\(line 2\)"),
    ("path,label,track_id\na.wav,x,one\nb.wav,y,\n./a.wav,y,two\n",
     r"m.csv line 4: ./a.wav is the file of line 2 too \(track one\): one file as two tracks could be trained and tested"),
    ("path,label,track_id\na.wav,x,one\nb.wav,y,\nlink.wav,y,two\n", r"m.csv line 4: link.wav is the file of line 2"),
    ("", r"m.csv: empty manifest"),
])
def test_bad_manifests_are_one_line_naming_the_row(tmp_path, text, message):
    tone_file(tmp_path / "a.wav")
    tone_file(tmp_path / "b.wav", seed=1)
    (tmp_path / "link.wav").symlink_to(tmp_path / "a.wav")
    m = write_manifest(tmp_path / "m.csv", text)
    with pytest.raises(DataError, match=message) as err:
        sources.find(m)
    assert "\n" not in str(err.value)


def test_unreadable_manifest_rows_are_reported_and_skipped(tmp_path):
    for i in range(2):
        tone_file(tmp_path / f"g{i}.wav", seed=i)
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "text.wav").write_text("not audio\n" * 40)
    (tmp_path / "dir.wav").mkdir()
    m = write_manifest(tmp_path / "m.csv", "path,label\ng0.wav,x\nempty.wav,x\ntext.wav,y\ng1.wav,y\nmissing.wav,y\n"
                                      "dir.wav,y\n")
    src = sources.find(m)
    assert [pathlib.Path(t.path).name for t in src.tracks] == sorted(["g0.wav", "g1.wav"], key=path_track_id)
    causes = {pathlib.Path(p).name: c for p, c in src.skipped}
    assert causes["empty.wav"].startswith("m.csv line 3: empty file")
    assert causes["text.wav"].startswith("m.csv line 4: not an audio file")
    assert causes["missing.wav"] == "m.csv line 6: no such file"
    assert causes["dir.wav"].startswith("m.csv line 7: ")


def test_relative_data_dir_manifest_ids_do_not_depend_on_the_cwd(tmp_path, monkeypatch):
    for i in range(2):
        tone_file(tmp_path / "d" / f"{i}.wav", seed=i)
    write_manifest(tmp_path / "d" / "m.csv", "path,label\n0.wav,x\n1.wav,y\n")
    monkeypatch.chdir(tmp_path)
    a = [t.track_id for t in manifest.read("d/m.csv").tracks]
    monkeypatch.chdir(tmp_path / "d")
    assert [t.track_id for t in manifest.read("m.csv").tracks] == a == sorted(map(path_track_id, ["0.wav", "1.wav"]))
    assert sources.corpus_name("m.csv") == sources.corpus_name(os.fspath(tmp_path / "d" / "m.csv"))


def test_a_manifest_not_in_utf8_names_its_line(tmp_path):
    tone_file(tmp_path / "a.wav")
    tone_file(tmp_path / "b.wav", seed=1)
    m = tmp_path / "m.csv"
    m.write_bytes("path,label\na.wav,Rock\nb.wav,Électro\n".encode("cp1252"))  # a spreadsheet's "CSV"
    with pytest.raises(DataError, match=r"m.csv line 3: not UTF-8 \(byte 0xc9\); save the manifest as UTF-8 CSV"):
        manifest.read(m)


def test_labels_differing_only_in_case_are_two_classes_with_a_warning(tmp_path, caplog):
    tone_file(tmp_path / "a.wav")
    tone_file(tmp_path / "b.wav", seed=1)
    with caplog.at_level("WARNING"):
        found = manifest.read(write_manifest(tmp_path / "m.csv", "path,label\na.wav,Rock\nb.wav,ROCK\n"))
    assert found.classes == ("ROCK", "Rock")
    assert any("labels 'ROCK' and 'Rock' differ only in case, spacing or invisible characters: they are 2 classes"
               in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("kind", ["manifest", "folder"])
def test_a_zero_width_space_in_a_label_warns_that_it_prints_like_another(tmp_path, caplog, kind):
    zwsp = "rock\u200b"
    if kind == "manifest":
        tone_file(tmp_path / "a.wav")
        tone_file(tmp_path / "b.wav", seed=1)
        read = lambda: manifest.read(write_manifest(tmp_path / "m.csv", f"path,label\na.wav,rock\nb.wav,{zwsp}\n"))  # noqa: E731
    else:
        tone_file(tmp_path / "c" / "rock" / "a.wav")
        tone_file(tmp_path / "c" / zwsp / "b.wav", seed=1)
        read = lambda: folder.scan(tmp_path / "c")  # noqa: E731
    with caplog.at_level("WARNING"):
        found = read()
    assert found.classes == ("rock", zwsp)  # still two classes: labels are exact strings
    text = caplog.text
    assert "label 'rock\\u200b' holds invisible characters (U+200B ZERO WIDTH SPACE): it prints like 'rock'" in text
    assert "labels 'rock' and 'rock\\u200b' differ only in case, spacing or invisible characters" in text
