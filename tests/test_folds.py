"""mgc_jax.data.folds: stratified rotation, the fault-filtered split, artist-grouped folds, split files."""
from __future__ import annotations

import collections
import json

import pytest
from corpus_files import tone_file, write_manifest

from mgc_jax.data import corpus, folds, gtzan
from mgc_jax.data.gtzan import GENRES
from mgc_jax.data.track import Track
from mgc_jax.errors import DataError
from mgc_jax.workdir import Workdir

FILTERED_SIZES = (443, 197, 290)  # Kereliuk et al. 2015, counted in the published lists


def _corpus(per_genre=100, genres=GENRES):
    return [Track(f"{g}.{i:05d}", g, f"/x/{g}.{i:05d}.au") for g in genres for i in range(per_genre)]


def _genre(tid):
    return tid.split(".")[0]


def _check_rotation(fs, tracks):
    ids = {t.track_id for t in tracks}
    tested = collections.Counter()
    for k, f in enumerate(fs):
        parts = [set(f.train), set(f.valid), set(f.test)]
        assert sum(map(len, parts)) == len(ids) and set().union(*parts) == ids  # a partition of the corpus
        assert all(list(p) == sorted(p) for p in f)
        assert f.valid == fs[(k + 1) % len(fs)].test  # docs/features.md §4.1: valid = block (k + 1) mod n
        tested.update(f.test)
    assert set(tested) == ids and set(tested.values()) == {1}  # every track tested exactly once


def test_stratified_folds_are_80_10_10_per_genre():
    tracks = _corpus()
    fs = folds.stratified_folds(tracks)
    assert len(fs) == 10
    _check_rotation(fs, tracks)
    for f in fs:
        for part, size in zip(f, (80, 10, 10)):
            assert collections.Counter(map(_genre, part)) == {g: size for g in GENRES}


def test_stratified_folds_work_for_small_and_uneven_genres():
    tracks = _corpus(20) + [Track(f"jazz.{i:05d}", "jazz", "") for i in range(20, 33)]  # jazz has 33
    fs = folds.stratified_folds(tracks)
    _check_rotation(fs, tracks)
    for f in fs:
        counts = collections.Counter(map(_genre, f.test))
        assert counts["rock"] == 2 and counts["jazz"] in (3, 4)  # np.array_split: blocks differ by <= 1


def test_stratified_folds_are_seeded_and_per_genre_independent():
    tracks = _corpus(20)
    assert folds.stratified_folds(tracks, seed=0) == folds.stratified_folds(tracks, seed=0)
    assert folds.stratified_folds(tracks, seed=0) != folds.stratified_folds(tracks, seed=1)
    rock_only = [t for t in tracks if t.genre == "rock"]
    full = folds.stratified_folds(tracks)[4].test
    assert tuple(t for t in full if _genre(t) == "rock") == folds.stratified_folds(rock_only)[4].test


def test_stratified_folds_refuse_too_few_tracks():
    with pytest.raises(DataError, match="class .blues. has 9 tracks: 10 folds need at least 10 per class"):
        folds.stratified_folds(_corpus(9))
    with pytest.raises(DataError, match="n_folds"):
        folds.stratified_folds(_corpus(20), n_folds=2)
    with pytest.raises(DataError, match="duplicate"):
        folds.stratified_folds(_corpus(20) + _corpus(1))


def test_filtered_split_has_the_published_sizes():
    split = folds.filtered_split()
    assert tuple(map(len, split)) == FILTERED_SIZES
    assert not (set(split.train) & set(split.valid)) and not (set(split.train) | set(split.valid)) & set(split.test)
    # per-genre counts from the lists (SOURCES.md of ../shared/gtzan_splits)
    assert collections.Counter(map(_genre, split.train))["blues"] == 46
    assert collections.Counter(map(_genre, split.test))["rock"] == 32
    assert "jazz.00054" in split.train and all(_genre(t) in GENRES for part in split for t in part)


def test_sturm_index_covers_gtzan():
    artists = gtzan.sturm_artists()
    assert len(artists) == 1000
    assert artists["blues.00000"] == "John Lee Hooker"
    assert sum(a == "Bob Marley" for a in artists.values()) == 35


def test_artist_folds_never_split_an_artist():
    tracks = _corpus()
    fs = folds.artist_folds(tracks)
    _check_rotation(fs, tracks)
    groups = folds.artist_groups(tracks)
    for f in fs:
        train, valid, test = ({groups[t] for t in part} for part in f)
        assert not (train & valid) and not (train & test) and not (valid & test)
    # a credited collaboration joins its artists' group
    by_name = {t: a for t, a in gtzan.sturm_artists().items()}
    lauryn = next(t for t, a in by_name.items() if a == "Lauryn Hill and Bob Marley")
    marley = next(t for t, a in by_name.items() if a == "Bob Marley")
    assert groups[lauryn] == groups[marley]


def test_artist_folds_balance_genres_as_far_as_artists_allow():
    tracks = _corpus()
    fs = folds.artist_folds(tracks)
    groups = folds.artist_groups(tracks)
    biggest = {g: max(collections.Counter(groups[t.track_id] for t in tracks if t.genre == g).values())
               for g in GENRES}
    for f in fs:
        counts = collections.Counter(map(_genre, f.test))
        for g in GENRES:
            # An artist group cannot be split; beyond that the deal keeps each genre within 3 of its 10 target.
            assert counts[g] <= max(biggest[g], 10) + 3, (g, counts[g])
        assert 90 <= len(f.test) <= 110


def test_unknown_artists_are_their_own_group():
    tracks = _corpus(12, genres=("blues", "rock"))
    groups = folds.artist_groups(tracks, artists={"blues.00000": "A", "blues.00001": "a", "rock.00000": ""})
    assert groups["blues.00000"] == groups["blues.00001"]  # names compare case-insensitively
    assert len({groups[t.track_id] for t in tracks}) == len(tracks) - 1


def test_get_split_writes_then_reads_the_split_file(tmp_path):
    wd = Workdir(tmp_path)
    tracks = _corpus(20)
    split = folds.get_split(wd, "mycorpus", tracks, "stratified", 3)
    path = wd.split_file("mycorpus", "stratified")
    saved = json.loads(path.read_text())
    assert saved["folds"][3] == {k: list(v) for k, v in split._asdict().items()}
    assert saved["tracks"] == sorted(t.track_id for t in tracks)
    # The file is the source of truth once written: edit it and the edit is what comes back.
    saved["folds"][3]["test"] = saved["folds"][3]["test"][::-1]
    path.write_text(json.dumps(saved))
    assert folds.get_split(wd, "mycorpus", tracks, "stratified", 3).test == split.test[::-1]


def test_get_split_refuses_a_file_made_from_other_tracks(tmp_path):
    wd = Workdir(tmp_path)
    folds.get_split(wd, "c", _corpus(20), "stratified", 0)
    with pytest.raises(DataError, match="another track list"):
        folds.get_split(wd, "c", _corpus(21), "stratified", 0)


def test_get_split_checks_split_and_fold(tmp_path):
    wd = Workdir(tmp_path)
    with pytest.raises(DataError, match="unknown split"):
        folds.get_split(wd, "c", _corpus(20), "random", 0)
    with pytest.raises(DataError, match="out of range"):
        folds.get_split(wd, "c", _corpus(20), "stratified", 10)
    with pytest.raises(DataError, match="only the stratified split"):
        folds.get_split(wd, "synthetic", _corpus(20), "filtered", 0)


def test_get_split_filtered_ignores_tracks_outside_the_lists(tmp_path):
    wd = Workdir(tmp_path)
    tracks = _corpus(100)
    split = folds.get_split(wd, "gtzan", tracks, "filtered", 0)
    assert tuple(map(len, split)) == FILTERED_SIZES
    with pytest.raises(DataError, match="folds 0..0"):
        folds.get_split(wd, "gtzan", tracks, "filtered", 1)
    listed = set().union(*split)
    outside = [t for t in tracks if t.track_id not in listed][:4]  # 70 GTZAN tracks are in no list
    few = [t for t in tracks if t.track_id in set(split.train[:5]) | set(split.valid[:3]) | set(split.test[:2])]
    small = folds.get_split(wd, "gtzan-small", few + outside, "filtered", 0)
    assert tuple(map(len, small)) == (5, 3, 2)
    with pytest.raises(DataError, match="none of the 290 tracks of the filtered test list"):
        folds.get_split(wd, "gtzan-tiny", [t for t in few if t.track_id not in split.test] + outside, "filtered", 0)


def test_get_split_artist(tmp_path):
    wd = Workdir(tmp_path)
    tracks = _corpus()
    assert folds.get_split(wd, "gtzan", tracks, "artist", 2) == folds.artist_folds(tracks)[2]


# ----------------------------------------------------------------------------- any corpus's classes

# sha256 (16 hex digits) of the fold lists made before classes were general: GTZAN and the synthetic
# corpus keep every fold assignment (same per-genre seeds, same block order).
PINNED_FOLDS = {"stratified-100": "e56810a1918624dd", "stratified-40": "d250150d16cf7339",
                "stratified-5x5": "c5e4ddf48ab5f7b2", "artist-100": "df4388f5d90c88ee"}


def _digest(fs):
    import hashlib

    return hashlib.sha256(json.dumps([f._asdict() for f in fs]).encode()).hexdigest()[:16]


def test_gtzan_folds_are_those_made_before_classes_were_general():
    assert _digest(folds.stratified_folds(_corpus(100))) == PINNED_FOLDS["stratified-100"]
    assert _digest(folds.stratified_folds(_corpus(40))) == PINNED_FOLDS["stratified-40"]
    assert _digest(folds.stratified_folds(_corpus(5), n_folds=5)) == PINNED_FOLDS["stratified-5x5"]
    assert _digest(folds.artist_folds(_corpus(100))) == PINNED_FOLDS["artist-100"]
    assert folds.stratified_folds(_corpus(40)) == folds.stratified_folds(_corpus(40), classes=GENRES)


def _any(counts, artists=None, splits=None):
    """Tracks of classes with free names: {class: n} -> [Track], ids '<class>-<i>'."""
    return [Track(f"{c.replace(' ', '_')}-{i}", c, "", (artists or {}).get(f"{c}-{i}"), (splits or {}).get(f"{c}-{i}"))
            for c, n in counts.items() for i in range(n)]


def test_stratified_folds_of_any_classes():
    classes = ("Acoustic", "Beats", "Electric guitar")
    tracks = _any({"Acoustic": 7, "Beats": 5, "Electric guitar": 9})
    fs = folds.stratified_folds(tracks, n_folds=5, classes=classes)
    _check_rotation(fs, tracks)
    for f in fs:  # each class spread over the blocks as evenly as its size allows
        counts = collections.Counter(t.rsplit("-", 1)[0] for t in f.test)
        assert counts["Acoustic"] in (1, 2) and counts["Beats"] == 1 and counts["Electric_guitar"] in (1, 2)
    # Adding a class moves no track of the others (per-class seeds from the class name).
    more = folds.stratified_folds(tracks + _any({"Aardvark": 5}), n_folds=5, classes=("Aardvark",) + classes)
    assert [tuple(t for t in f.test if not t.startswith("Aardvark")) for f in more] == [f.test for f in fs]
    with pytest.raises(DataError, match="class 'Beats' has 5 tracks: 6 folds need at least 6 per class"):
        folds.stratified_folds(tracks, n_folds=6, classes=classes)
    with pytest.raises(DataError, match="unknown classes"):
        folds.stratified_folds(tracks, n_folds=5, classes=("Acoustic", "Beats"))


def test_manifest_split_is_the_split_column():
    splits = {"a-0": "train", "a-1": "train", "a-2": "valid", "a-3": "test", "b-0": "train", "b-1": "test"}
    tracks = _any({"a": 4, "b": 2}, splits=splits)
    assert folds.manifest_split(tracks, ("a", "b")) == (("a-0", "a-1", "b-0"), ("a-2",), ("a-3", "b-1"))
    with pytest.raises(DataError, match="class 'b' has no train track"):
        folds.manifest_split(_any({"a": 4, "b": 2}, splits={**splits, "b-0": "valid"}), ("a", "b"))
    with pytest.raises(DataError, match="no usable valid track"):
        folds.manifest_split(_any({"a": 4, "b": 2}, splits={**splits, "a-2": "test"}), ("a", "b"))


def test_get_split_of_any_corpus_kind(tmp_path):
    wd = Workdir(tmp_path)
    artists = {f"a-{i}": f"A{i % 4}" for i in range(8)} | {f"b-{i}": f"B{i % 4}" for i in range(8)}
    splits = {t: ("train", "valid", "test")[i % 3] for i, t in enumerate(sorted(artists))}
    tracks = _any({"a": 8, "b": 8}, artists=artists, splits=splits)
    kw = {"classes": ("a", "b"), "kind": "manifest"}
    three = folds.get_split(wd, "m", tracks, "stratified", 2, n_folds=3, **kw)
    assert three == folds.stratified_folds(tracks, 3, classes=("a", "b"))[2]
    saved = json.loads(wd.split_file("m", "stratified-3folds").read_text())
    assert saved["n_folds"] == 3 and saved["classes"] == ["a", "b"] and "inputs_sha256" in saved
    assert not wd.split_file("m", "stratified").exists()
    art = folds.get_split(wd, "m", tracks, "artist", 0, n_folds=4, **kw)
    for name in set(artists.values()):  # one artist, one part
        members = {t for t, a in artists.items() if a == name}
        assert sum(bool(members & set(p)) for p in art) == 1
    assert folds.get_split(wd, "m", tracks, "manifest", 0, **kw) == folds.manifest_split(tracks, ("a", "b"))
    with pytest.raises(DataError, match="GTZAN's fault-filtered track list; corpus m is a manifest corpus"):
        folds.get_split(wd, "m", tracks, "filtered", 0, **kw)
    plain = _any({"a": 8, "b": 8})
    with pytest.raises(DataError, match=r"the artist split needs artists; corpus f \(folder\) has none"):
        folds.get_split(wd, "f", plain, "artist", 0, classes=("a", "b"), kind="folder")
    with pytest.raises(DataError, match=r"needs a manifest with a split column .*corpus f \(folder\) has none"):
        folds.get_split(wd, "f", plain, "manifest", 0, classes=("a", "b"), kind="folder")
    with pytest.raises(DataError, match="only the stratified split"):
        folds.get_split(wd, "synthetic", _corpus(20), "manifest", 0)
    with pytest.raises(DataError, match="n_folds"):
        folds.get_split(wd, "m", tracks, "stratified", 0, n_folds=2, **kw)


def test_artist_folds_refuse_a_class_that_some_fold_cannot_train_on():
    # All of "b" is one artist: its tracks share a block, so the folds testing or validating on that block
    # would train a net that never sees "b".
    artists = {f"a-{i}": f"A{i}" for i in range(6)} | {f"b-{i}": "Solo" for i in range(6)}
    tracks = _any({"a": 6, "b": 6}, artists=artists)
    with pytest.raises(DataError, match=r"artist split \(3 folds\): no training track of class 'b' in folds "
                                        r"\d, \d \(6 tracks by 1 artist group\(s\)\); every class needs tracks by "
                                        r"at least 3 artists"):
        folds.artist_folds(tracks, 3, artists=artists, classes=("a", "b"))
    # Three artists of "b" fill three blocks: every fold trains on it.
    artists |= {f"b-{i}": f"B{i % 3}" for i in range(6)}
    for f in folds.artist_folds(tracks, 3, artists=artists, classes=("a", "b")):
        assert any(t.startswith("b-") for t in f.train) and any(t.startswith("a-") for t in f.train)


def test_gtzan_artist_folds_train_on_every_genre():
    for n in (3, 10):
        for f in folds.artist_folds(_corpus(100), n):
            assert {_genre(t) for t in f.train} == set(GENRES)


def test_manifest_split_names_a_class_without_valid_or_test_tracks(tmp_path, caplog):
    splits = {"a-0": "train", "a-1": "valid", "a-2": "test", "b-0": "train", "b-1": "train", "c-0": "train",
              "c-1": "test"}
    tracks = _any({"a": 3, "b": 2, "c": 2}, splits=splits)
    fixed = folds.manifest_split(tracks, ("a", "b", "c"))
    assert folds.warn_untested_classes(fixed, tracks, ("a", "b", "c")) == [
        "manifest split: class 'b' has 2 train tracks but no valid and no test track: its accuracy is not measured",
        "manifest split: class 'c' has 1 train tracks but no valid track: validation ignores it"]
    caplog.clear()
    with caplog.at_level("WARNING"):  # get_split says it on every call, not only when it writes the split file
        for _ in range(2):
            folds.get_split(Workdir(tmp_path), "m", tracks, "manifest", 0, classes=("a", "b", "c"), kind="manifest")
    assert sum("class 'b' has 2 train tracks" in r.getMessage() for r in caplog.records) == 2


def test_check_split_refuses_what_get_split_would_without_a_file(tmp_path):
    tracks = _any({"a": 4, "b": 5})
    folds.check_split("f", "folder", tracks, "stratified", classes=("a", "b"), n_folds=4)
    with pytest.raises(DataError, match=r"class 'a' has 4 tracks: 5 folds need at least 5 per class; use at most "
                                        r"--n_folds=4$"):
        folds.check_split("f", "folder", tracks, "stratified", classes=("a", "b"), n_folds=5)
    # The class named is the one that limits the folds, not the first one too small.
    uneven = _any({"big": 8, "small": 4, "mid": 6})
    with pytest.raises(DataError, match=r"class 'small' has 4 tracks: 10 folds .*use at most --n_folds=4$"):
        folds.stratified_folds(uneven, classes=("big", "small", "mid"))
    with pytest.raises(DataError, match=r"class 'b' has 2 tracks: 3 folds need at least 3 per class, and any split "
                                        r"needs 3 \(test, valid, train\)$"):
        folds.stratified_folds(_any({"a": 4, "b": 2}), n_folds=3, classes=("a", "b"))
    with pytest.raises(DataError, match="GTZAN's fault-filtered track list"):
        folds.check_split("f", "folder", tracks, "filtered", classes=("a", "b"))
    with pytest.raises(DataError, match="unknown split 'random'"):
        folds.check_split("f", "folder", tracks, "random", classes=("a", "b"))


def test_a_changed_label_invalidates_the_split_file(tmp_path, fast_extract):
    d = tmp_path / "d"
    rows = []
    for i in range(6):
        tone_file(d / f"{i}.wav", seed=i)
        rows.append(f"{i}.wav,{'ab'[i % 2]},{'train' if i < 4 else 'test' if i == 4 else 'valid'}")
    m = write_manifest(d / "m.csv", "path,label,split\n" + "\n".join(rows) + "\n")
    wd = Workdir(tmp_path / "ws")
    corpus.prepare_corpus(str(m), wd, progress=False).split(wd, "manifest", 0)
    write_manifest(m, "path,label,split\n" + "\n".join(rows).replace("0.wav,a", "0.wav,b") + "\n")
    with pytest.raises(DataError, match="other labels, artists or split values"):
        corpus.prepare_corpus(str(m), wd, progress=False).split(wd, "manifest", 0)
