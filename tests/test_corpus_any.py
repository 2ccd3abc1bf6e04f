"""Any labelled corpus: labelled folders, CSV manifests, GTZAN-vs-folder detection, names, classes, bad input.

Audio is short synthetic tones written with soundfile into tmp dirs; prepare_corpus runs with a stand-in
extractor (zeros of the real shapes) so the corpus logic is tested without the DSP cost.
"""
from __future__ import annotations

import os
import pathlib

import numpy as np
import pytest
import soundfile as sf

from mgc_jax.data import corpus, extraction, folder, gtzan, manifest, sources
from mgc_jax.data.track import SAFE_ID, path_track_id
from mgc_jax.errors import DataError
from mgc_jax.workdir import Workdir

SECONDS = 4.0  # 170 frames: one 128-frame clip


def _tone(path: pathlib.Path, seed: int = 0, seconds: float = SECONDS) -> pathlib.Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    n = int(seconds * 22050)
    x = 0.1 * np.sin(2 * np.pi * (220 + 20 * seed) * np.arange(n) / 22050)
    sf.write(path, x, 22050, format="WAV", subtype="PCM_16")  # format given: the extension may be .WAV
    return path


# The issue's names, then enough tracks per class for three stratified folds.
ISSUE_FILES = ("Acoustic/live sets/take 1 (final).wav", "Electric/Track_1.WAV", "Beats/beat-1.wav")
MORE_FILES = ("Acoustic/studio/Été 2.flac", "Acoustic/a_b.wav", "Acoustic/a b.wav",
              "Electric/Track_2.wav", "Electric/deep/er/Track 3.Wav", "Electric/x (1).wav",
              "Beats/beat-2.wav", "Beats/beat-3.wav", "Beats/BEAT-4.WAV")
CLASSES = ("Acoustic", "Beats", "Electric")


def _my_music(tmp_path: pathlib.Path) -> pathlib.Path:
    root = tmp_path / "my music"
    for i, rel in enumerate(ISSUE_FILES + MORE_FILES):
        _tone(root / rel, seed=i)
    (root / "Acoustic" / "cover.jpg").write_bytes(b"\xff\xd8 not audio")
    (root / "Beats" / ".DS_Store").write_bytes(b"\0" * 8)  # hidden: ignored silently
    (root / "Beats" / "broken.wav").write_bytes(b"")  # unreadable: reported, skipped
    (root / "Notes").mkdir()
    (root / "Notes" / "readme.txt").write_text("not a class")
    (root / "loose.wav").write_bytes((root / "Beats" / "beat-1.wav").read_bytes())
    return root


@pytest.fixture
def fast_extract(monkeypatch):
    """extraction._extract_batch replaced by zeros of the real shapes: corpus logic without the DSP cost."""
    import dsp

    def zeros(x, cfg):
        t = dsp.n_frames(x.shape[1], cfg)
        return (np.zeros((len(x), t, 8), np.float32), np.zeros((len(x), 8), np.int32),
                np.zeros((len(x), t, cfg.n_bins), np.float32))

    monkeypatch.setattr(extraction, "_extract_batch", zeros)


# ------------------------------------------------------------------------------------ labelled folders


def test_labelled_folder_with_free_names(tmp_path):
    root = _my_music(tmp_path)
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
    assert causes["Beats/loop.M4A"].startswith("unsupported audio format .m4a (libsndfile cannot decode it")
    assert causes["Beats/broken.wav"].startswith("empty file")
    assert "not an audio file name" in causes["Acoustic/cover.jpg"]
    assert "not a class" in causes["Notes"] and "beside the class folders" in causes["loose.wav"]


def test_track_ids_follow_the_relative_path_not_the_location(tmp_path):
    a = folder.scan(_my_music(tmp_path / "here")).tracks
    b = folder.scan(_my_music(tmp_path / "elsewhere")).tracks
    assert [t.track_id for t in a] == [t.track_id for t in b]
    here, elsewhere = tmp_path / "here" / "my music", tmp_path / "elsewhere" / "my music"
    assert sources.corpus_name(here) == sources.corpus_name(str(here) + "/")  # the same folder, however written
    assert sources.corpus_name(here) != sources.corpus_name(elsewhere)


def test_prepare_a_labelled_folder(tmp_path, fast_extract):
    root = _my_music(tmp_path)
    wd = Workdir(tmp_path / "ws")
    c = corpus.prepare_corpus(str(root), wd, progress=False)
    assert c.kind == "folder" and c.classes == CLASSES and len(c.tracks) == 12
    assert c.name == sources.corpus_name(root) and c.name.startswith("my_music-") and SAFE_ID.match(c.name)
    assert c.cache.directory == wd.features_dir(c.name, c.cfg)
    ids = [t.track_id for t in c.tracks]
    assert list(c.labels(ids)) == [CLASSES.index(t.genre) for t in c.tracks]
    assert c.labels(ids).dtype == np.int32
    with pytest.raises(DataError, match="no track 'nope'"):
        c.labels(["nope"])
    assert {pathlib.Path(p).name for p, _ in c.problems} >= {"broken.wav", "cover.jpg"}
    split = c.split(wd, "stratified", 1, n_folds=3)
    assert wd.split_file(c.name, "stratified-3folds").is_file()
    assert sorted(split.train + split.valid + split.test) == sorted(ids)
    for part in split:  # 4 tracks per class in 3 blocks: every part holds every class
        assert {c.classes[i] for i in c.labels(part)} == set(CLASSES)
    with pytest.raises(DataError, match="class 'Acoustic' has 4 tracks: 10 folds need at least 10 per class"):
        c.split(wd, "stratified", 0)
    with pytest.raises(DataError, match="the artist split needs artists"):
        c.split(wd, "artist", 0, n_folds=3)
    with pytest.raises(DataError, match="needs a manifest with a split column"):
        c.split(wd, "manifest", 0)
    with pytest.raises(DataError, match="GTZAN's fault-filtered track list"):
        c.split(wd, "filtered", 0)


def test_a_folder_needs_two_classes(tmp_path):
    _tone(tmp_path / "solo" / "Only" / "a.wav")
    with pytest.raises(DataError, match=r"only 1 class \(Only\): a corpus needs at least 2 class folders"):
        sources.find(tmp_path / "solo")


def test_a_class_left_without_usable_tracks_is_named(tmp_path, fast_extract):
    root = tmp_path / "c"
    for i in range(3):
        _tone(root / "Long" / f"{i}.wav", seed=i)
    _tone(root / "Short" / "s.wav", seconds=1.0)  # readable, but shorter than one clip
    with pytest.raises(DataError, match="class 'Short' has no usable track"):
        corpus.prepare_corpus(str(root), Workdir(tmp_path / "ws"), progress=False)


# ------------------------------------------------------------------------------- GTZAN stays GTZAN


def test_gtzan_layouts_stay_gtzan(tmp_path, fast_extract):
    plain = tmp_path / "gtzan"
    for name in ("pop/pop.00000.wav", "rock/rock.00001.wav", "rock/my extra.wav"):
        _tone(plain / name)
    assert sources.kind_of(plain) == "gtzan" and sources.corpus_name(plain) == "gtzan"
    c = corpus.prepare_corpus(str(plain), Workdir(tmp_path / "ws"), progress=False)
    assert (c.kind, c.name, c.classes) == ("gtzan", "gtzan", gtzan.GENRES)
    assert [t.track_id for t in c.tracks] == ["pop.00000", "rock.00001"]
    assert list(c.labels(["pop.00000", "rock.00001"])) == [7, 9]  # GENRES indices, as before
    assert any("GTZAN track naming" in cause for _, cause in c.problems)
    _tone(tmp_path / "arch" / "genres" / "jazz" / "jazz.00002.au")
    _tone(tmp_path / "arch" / "genres" / "polka" / "p.wav")  # stray folder: reported by gtzan.scan
    assert sources.kind_of(tmp_path / "arch") == "gtzan"


def test_genre_named_folders_with_free_names_are_a_labelled_folder(tmp_path):
    _tone(tmp_path / "mine" / "blues" / "my song.wav")
    _tone(tmp_path / "mine" / "rock" / "x.wav")
    assert sources.kind_of(tmp_path / "mine") == "folder"
    assert sources.find(tmp_path / "mine").classes == ("blues", "rock")
    _tone(tmp_path / "mixed" / "blues" / "blues.00001.wav")
    _tone(tmp_path / "mixed" / "Other" / "x.wav")  # a non-genre folder: not GTZAN
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


# -------------------------------------------------------------------------------------- manifests


def _manifest(path: pathlib.Path, text: str) -> pathlib.Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_manifest_with_every_optional_column(tmp_path, fast_extract):
    d = tmp_path / "data"
    outside = _tone(tmp_path / "elsewhere" / "far away.wav", seed=9)
    for i in range(3):
        _tone(d / "audio" / f"jazz {i}.wav", seed=i)
        _tone(d / "audio" / f"ROCK_{i}.FLAC".replace(".FLAC", ".WAV"), seed=3 + i)
    m = _manifest(d / "corpus.csv", "\ufeffPath, Label ,artist,split,track_id\n"
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


def test_a_changed_label_invalidates_the_split_file(tmp_path, fast_extract):
    d = tmp_path / "d"
    rows = []
    for i in range(6):
        _tone(d / f"{i}.wav", seed=i)
        rows.append(f"{i}.wav,{'ab'[i % 2]},{'train' if i < 4 else 'test' if i == 4 else 'valid'}")
    m = _manifest(d / "m.csv", "path,label,split\n" + "\n".join(rows) + "\n")
    wd = Workdir(tmp_path / "ws")
    corpus.prepare_corpus(str(m), wd, progress=False).split(wd, "manifest", 0)
    _manifest(m, "path,label,split\n" + "\n".join(rows).replace("0.wav,a", "0.wav,b") + "\n")
    with pytest.raises(DataError, match="other labels, artists or split values"):
        corpus.prepare_corpus(str(m), wd, progress=False).split(wd, "manifest", 0)


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
    _tone(tmp_path / "a.wav")
    _tone(tmp_path / "b.wav", seed=1)
    (tmp_path / "link.wav").symlink_to(tmp_path / "a.wav")
    m = _manifest(tmp_path / "m.csv", text)
    with pytest.raises(DataError, match=message) as err:
        sources.find(m)
    assert "\n" not in str(err.value)


def test_unreadable_manifest_rows_are_reported_and_skipped(tmp_path):
    for i in range(2):
        _tone(tmp_path / f"g{i}.wav", seed=i)
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "text.wav").write_text("not audio\n" * 40)
    (tmp_path / "dir.wav").mkdir()
    m = _manifest(tmp_path / "m.csv", "path,label\ng0.wav,x\nempty.wav,x\ntext.wav,y\ng1.wav,y\nmissing.wav,y\n"
                                      "dir.wav,y\n")
    src = sources.find(m)
    assert [pathlib.Path(t.path).name for t in src.tracks] == sorted(["g0.wav", "g1.wav"], key=path_track_id)
    causes = {pathlib.Path(p).name: c for p, c in src.skipped}
    assert causes["empty.wav"].startswith("m.csv line 3: empty file")
    assert causes["text.wav"].startswith("m.csv line 4: not an audio file")
    assert causes["missing.wav"] == "m.csv line 6: no such file"
    assert causes["dir.wav"].startswith("m.csv line 7: ")


def test_a_manifest_class_without_readable_tracks_is_named(tmp_path, fast_extract):
    for i in range(2):
        _tone(tmp_path / f"{i}.wav", seed=i)
    m = _manifest(tmp_path / "m.csv", "path,label\n0.wav,x\n1.wav,y\nlost.wav,z\n")
    with pytest.raises(DataError, match="class 'z' has no usable track"):
        corpus.prepare_corpus(str(m), Workdir(tmp_path / "ws"), progress=False)
    one = _manifest(tmp_path / "one.csv", "path,label\n0.wav,x\n1.wav,x\n")
    with pytest.raises(DataError, match=r"only 1 class \(x\): a corpus needs at least 2 labels"):
        sources.find(one)


def test_relative_data_dir_manifest_ids_do_not_depend_on_the_cwd(tmp_path, monkeypatch):
    for i in range(2):
        _tone(tmp_path / "d" / f"{i}.wav", seed=i)
    _manifest(tmp_path / "d" / "m.csv", "path,label\n0.wav,x\n1.wav,y\n")
    monkeypatch.chdir(tmp_path)
    a = [t.track_id for t in manifest.read("d/m.csv").tracks]
    monkeypatch.chdir(tmp_path / "d")
    assert [t.track_id for t in manifest.read("m.csv").tracks] == a == sorted(map(path_track_id, ["0.wav", "1.wav"]))
    assert sources.corpus_name("m.csv") == sources.corpus_name(os.fspath(tmp_path / "d" / "m.csv"))


def test_a_split_the_corpus_cannot_have_is_refused_before_extraction(tmp_path, monkeypatch):
    root = _my_music(tmp_path)
    calls = []
    monkeypatch.setattr(extraction, "extract", lambda *a, **k: calls.append(a) or pytest.fail("extracted"))
    wd = Workdir(tmp_path / "ws")
    for split, n_folds, message in [
        ("stratified", 10, r"class 'Acoustic' has 4 tracks: 10 folds need at least 10 per class; use at most --n_folds=4"),
        ("filtered", 10, "GTZAN's fault-filtered track list"),
        ("artist", 3, "the artist split needs artists"),
        ("manifest", 10, "needs a manifest with a split column"),
    ]:
        with pytest.raises(DataError, match=message):
            corpus.prepare_corpus(str(root), wd, progress=False, split=split, n_folds=n_folds)
    assert not calls


def test_a_partial_gtzan_layout_says_it_keeps_ten_classes(tmp_path, fast_extract, caplog):
    for name in ("pop/pop.00000.wav", "rock/rock.00001.wav"):
        _tone(tmp_path / "gtzan" / name)
    with caplog.at_level("WARNING"):
        c = corpus.prepare_corpus(str(tmp_path / "gtzan"), Workdir(tmp_path / "ws"), progress=False)
    assert c.classes == gtzan.GENRES
    [line] = [r.getMessage() for r in caplog.records if "GTZAN layout without" in r.getMessage()]
    assert "blues, classical, country, disco, hiphop, jazz, metal, reggae:" in line and "CSV manifest" in line


def test_a_too_short_manifest_track_is_reported_with_its_row(tmp_path, fast_extract):
    for i in range(2):
        _tone(tmp_path / f"{i}.wav", seed=i)
    _tone(tmp_path / "short.wav", seconds=1.0)
    m = _manifest(tmp_path / "m.csv", "path,label\n0.wav,x\n1.wav,y\nshort.wav,y\n")
    c = corpus.prepare_corpus(str(m), Workdir(tmp_path / "ws"), progress=False)
    assert len(c.tracks) == 2
    [(path, cause)] = c.problems
    assert path == str(tmp_path / "short.wav") and cause.startswith("m.csv line 4: shorter than one 128-frame clip")


def test_a_manifest_not_in_utf8_names_its_line(tmp_path):
    _tone(tmp_path / "a.wav")
    _tone(tmp_path / "b.wav", seed=1)
    m = tmp_path / "m.csv"
    m.write_bytes("path,label\na.wav,Rock\nb.wav,Électro\n".encode("cp1252"))  # a spreadsheet's "CSV"
    with pytest.raises(DataError, match=r"m.csv line 3: not UTF-8 \(byte 0xc9\); save the manifest as UTF-8 CSV"):
        manifest.read(m)


def test_labels_differing_only_in_case_are_two_classes_with_a_warning(tmp_path, caplog):
    _tone(tmp_path / "a.wav")
    _tone(tmp_path / "b.wav", seed=1)
    with caplog.at_level("WARNING"):
        found = manifest.read(_manifest(tmp_path / "m.csv", "path,label\na.wav,Rock\nb.wav,ROCK\n"))
    assert found.classes == ("ROCK", "Rock")
    assert any("labels 'ROCK' and 'Rock' differ only in case, spacing or invisible characters: they are 2 classes"
               in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("kind", ["manifest", "folder"])
def test_a_zero_width_space_in_a_label_warns_that_it_prints_like_another(tmp_path, caplog, kind):
    zwsp = "rock\u200b"
    if kind == "manifest":
        _tone(tmp_path / "a.wav")
        _tone(tmp_path / "b.wav", seed=1)
        read = lambda: manifest.read(_manifest(tmp_path / "m.csv", f"path,label\na.wav,rock\nb.wav,{zwsp}\n"))  # noqa: E731
    else:
        _tone(tmp_path / "c" / "rock" / "a.wav")
        _tone(tmp_path / "c" / zwsp / "b.wav", seed=1)
        read = lambda: folder.scan(tmp_path / "c")  # noqa: E731
    with caplog.at_level("WARNING"):
        found = read()
    assert found.classes == ("rock", zwsp)  # still two classes: labels are exact strings
    text = caplog.text
    assert "label 'rock\\u200b' holds invisible characters (U+200B ZERO WIDTH SPACE): it prints like 'rock'" in text
    assert "labels 'rock' and 'rock\\u200b' differ only in case, spacing or invisible characters" in text


def test_a_corpus_with_no_usable_track_names_the_files_and_why(tmp_path):
    for i in range(4):
        _tone(tmp_path / "flat" / f"t{i}.wav", seed=i)
    with pytest.raises(DataError, match=r"flat: no usable track \(4 files not used: .*t0.wav: a file beside the class "
                                        r"folders \(expected <class>/<file>\); .*; and 1 more\)$"):
        sources.find(tmp_path / "flat")


def test_a_symlinked_file_is_one_track_and_copies_are_named(tmp_path, fast_extract, caplog):
    root = tmp_path / "lib"
    for i in range(2):
        _tone(root / "A" / f"a{i}.wav", seed=i)
        _tone(root / "B" / f"b{i}.wav", seed=5 + i)
    (root / "B" / "also a0.wav").symlink_to(root / "A" / "a0.wav")  # the same file under another class
    (root / "B" / "copy of b0.wav").write_bytes((root / "B" / "b0.wav").read_bytes())  # same bytes, own file
    found = folder.scan(root)
    assert sorted(pathlib.Path(t.path).name for t in found.tracks) == ["a0.wav", "a1.wav", "b0.wav", "b1.wav",
                                                                       "copy of b0.wav"]
    causes = dict(found.skipped)
    assert causes[str(root / "B" / "also a0.wav")] == (f"the same file as {root / 'A' / 'a0.wav'} (a symbolic link): "
                                                       "one file, one track")
    with caplog.at_level("WARNING"):
        corpus.prepare_corpus(str(root), Workdir(tmp_path / "ws"), progress=False)
    [line] = [r.getMessage() for r in caplog.records if "byte-identical" in r.getMessage()]
    assert line.startswith("byte-identical copies: 1 track(s) have the audio file of another (e.g. B_b0_wav-")
