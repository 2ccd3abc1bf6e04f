"""Train / validation / test splits at track level, for any corpus: the paper's stratified folds, the
fault-filtered GTZAN split, artist-grouped stratified folds and a manifest's own split; saved as JSON in
the workdir so every run is reproducible.

    split       corpora                                   folds
    stratified  any                                       n_folds (10), sized from each class's tracks
    artist      GTZAN (Sturm's index), manifests with     n_folds (10)
                an artist column
    manifest    manifests with a split column             one (fold 0): the manifest's train/valid/test
    filtered    GTZAN                                     one (fold 0)

Fold k of the stratified and artist folds tests on block k, validates on block (k + 1) mod n_folds and trains
on the rest (docs/features.md §4.1), so every track is tested exactly once.
"""
from __future__ import annotations

import collections
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
from absl import logging

from mgc_jax.config import (
    N_FOLDS,
    N_FOLDS_RULE,
    ONE_FOLD_SPLITS,
    SPLITS,
    n_folds_ok,
    split_dir_name,
)
from mgc_jax.data import gtzan
from mgc_jax.data.gtzan import GENRES
from mgc_jax.data.synthetic import CORPUS_NAME
from mgc_jax.data.track import Track
from mgc_jax.errors import DataError
from mgc_jax.workdir import read_json, write_json

SEED = 0
SPLIT_FILE_FORMAT = 1

# Collaborations credited in Sturm's index, linked to the artists they name so that, e.g., "Lauryn Hill
# and Bob Marley" shares a group with Bob Marley's own tracks (keys and values are normalised names).
_COLLABORATIONS = {
    "lauryn hill and bob marley": ("lauryn hill", "bob marley"),
    "barbra streisand and donna summer": ("barbra streisand", "donna summer"),
    "peter tosh and mick jagger": ("peter tosh", "mick jagger"),
    "aretha franklin celine dion mariah carey shania twain and gloria estefan": (
        "aretha franklin", "celine dion", "mariah carey", "shania twain", "gloria estefan"),
}


class Split(NamedTuple):
    """Track ids ("blues.00012") of one fold, each tuple sorted."""

    train: tuple[str, ...]
    valid: tuple[str, ...]
    test: tuple[str, ...]


def stratified_folds(tracks: Sequence[Track], n_folds: int = N_FOLDS, seed: int = SEED, *,
                     classes: Sequence[str] = GENRES) -> list[Split]:
    """The paper's protocol: per class 80/10/10 (for 10 folds), each track tested in exactly one fold.

    Args:
      tracks: the corpus (`track_id`, `genre` = class name of each).
      n_folds: number of blocks and folds (>= 3: test, validation and training need a block each).
      seed: permutation seed; class c uses `np.random.default_rng([seed, class_key(c)])`, so adding or
        removing another class does not move a track between blocks.
      classes: the corpus's class names (every track's class must be one).

    Raises:
      DataError: fewer than n_folds tracks in a class (naming it), an unknown class, a duplicate track id.
    """
    _check_n_folds(n_folds)
    by_class = _by_class(tracks, classes)
    smallest = min(by_class, key=lambda c: len(by_class[c]))  # the class that limits the folds (first of ties)
    fewest = len(by_class[smallest])
    if fewest < n_folds:
        fix = f"; use at most --n_folds={fewest}" if fewest >= 3 else ", and any split needs 3 (test, valid, train)"
        raise DataError(f"class {smallest!r} has {fewest} tracks: {n_folds} folds need at least {n_folds} per class"
                        f"{fix}")
    blocks: list[list[str]] = [[] for _ in range(n_folds)]
    for name, ids in by_class.items():
        perm = np.random.default_rng([seed, class_key(name)]).permutation(len(ids))
        for block, part in zip(blocks, np.array_split(perm, n_folds)):
            block.extend(ids[i] for i in part)
    return _rotate(blocks)


def class_key(name: str) -> int:
    """Seed entry of a class: its GENRES index for a GTZAN genre (the splits made before classes were
    general), else 2**32 + 32 bits of the name's SHA-256 (depends on the name alone)."""
    if name in GENRES:
        return GENRES.index(name)
    return (1 << 32) + int(hashlib.sha256(name.encode("utf-8")).hexdigest()[:8], 16)


def manifest_split(tracks: Sequence[Track], classes: Sequence[str]) -> Split:
    """The fixed split of a manifest's `split` column (`Track.split`), every class in its training part.

    Raises:
      DataError: no track has a split value, a part is empty, or a class has no training track.
    """
    if not any(t.split for t in tracks):
        raise DataError("the manifest split needs a manifest with a split column (train/valid/test)")
    parts = Split(*(tuple(sorted(t.track_id for t in tracks if t.split == p)) for p in Split._fields))
    for name, part in zip(Split._fields, parts):
        if not part:
            raise DataError(f"manifest split: no usable {name} track (split column value {name!r})")
    trained = {t.genre for t in tracks if t.split == "train"}
    for c in classes:
        if c not in trained:
            raise DataError(f"manifest split: class {c!r} has no train track")
    return parts


def warn_untested_classes(split: Split, tracks: Sequence[Track], classes: Sequence[str]) -> list[str]:
    """Log one warning per class of a fixed split with no valid or no test track; returns those lines.

    A fixed split is the manifest author's choice, so this is allowed, but said: the test accuracy then says
    nothing about the class, and model selection on validation ignores it.
    """
    class_of = {t.track_id: t.genre for t in tracks}
    lines = []
    for c in classes:
        lacking = [p for p in ("valid", "test") if c not in {class_of[t] for t in getattr(split, p)}]
        if lacking:
            n_train = sum(class_of[t] == c for t in split.train)
            lines.append(f"manifest split: class {c!r} has {n_train} train tracks but no {' and no '.join(lacking)} "
                         f"track: {'its accuracy is not measured' if 'test' in lacking else 'validation ignores it'}")
            logging.warning("%s", lines[-1])
    return lines


def filtered_split() -> Split:
    """The fault-filtered GTZAN split (Kereliuk et al. 2015): 443 / 197 / 290 track ids."""
    return Split(*(tuple(sorted(gtzan.split_list(f"{part}_filtered.txt"))) for part in Split._fields))


def artist_groups(tracks: Sequence[Track], artists: Mapping[str, str] | None = None) -> dict[str, str]:
    """Group key of each track id: tracks sharing an artist (or a credited collaborator) share a key.

    Args:
      tracks: the corpus.
      artists: track id -> artist name; default `gtzan.sturm_artists()`. Names are compared case-insensitively
        with "&" read as "and" and punctuation ignored ("Earth, Wind & Fire" = "Earth Wind and Fire").
        A track without a name gets a group of its own.
    """
    artists = gtzan.sturm_artists() if artists is None else artists
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    keys = {}
    for t in tracks:
        name = _normalise_artist(artists.get(t.track_id, ""))
        keys[t.track_id] = f"artist:{name}" if name else f"track:{t.track_id}"
        for member in _COLLABORATIONS.get(name, ()):
            parent[find(f"artist:{member}")] = find(keys[t.track_id])
    return {tid: find(key) for tid, key in keys.items()}


def artist_folds(tracks: Sequence[Track], n_folds: int = N_FOLDS, seed: int = SEED,
                 artists: Mapping[str, str] | None = None, *, classes: Sequence[str] = GENRES) -> list[Split]:
    """Stratified folds whose blocks are unions of whole artist groups: no artist is on two sides of any fold.

    Groups (Sturm's 2012 GTZAN index, or a manifest's artist column; a track without a known artist is its own
    group) go largest first, each into the block where it least increases the squared deviation of the
    per-class counts from class size / n_folds. GTZAN's reggae has 35 Bob Marley tracks, all in one block.

    Args:
      tracks: the corpus.
      n_folds: number of blocks and folds (>= 3).
      seed: order of equal-sized groups.
      artists: track id -> artist; default Sturm's GTZAN index.
      classes: the corpus's class names (balance is per class).

    Raises:
      DataError: fewer groups than folds, a block left empty, or a fold whose training part lacks a class
        (naming the class, its folds and its number of artist groups).
    """
    _check_n_folds(n_folds)
    by_genre = _by_class(tracks, classes)
    genre_col = {g: i for i, g in enumerate(by_genre)}
    target = np.array([len(ids) for ids in by_genre.values()], np.float64) / n_folds
    groups: dict[str, list[Track]] = collections.defaultdict(list)
    keys = artist_groups(tracks, artists)
    for t in sorted(tracks):
        groups[keys[t.track_id]].append(t)
    if len(groups) < n_folds:
        raise DataError(f"{len(groups)} artist groups cannot fill {n_folds} folds")
    names = sorted(groups)
    sizes = np.zeros((len(names), len(by_genre)), np.float64)  # genre counts of each group
    for i, name in enumerate(names):
        for t in groups[name]:
            sizes[i, genre_col[t.genre]] += 1
    order = np.random.default_rng(seed).permutation(len(names))
    order = sorted(order, key=lambda i: -sizes[i].sum())  # stable: seeded order among equal sizes
    assign = np.zeros(len(names), np.int64)
    counts = np.zeros((n_folds, len(by_genre)), np.float64)
    n_in = np.zeros(n_folds, np.int64)
    for i in order:
        c = sizes[i]
        # Increase of sum_g (count[b, g] - target[g])^2 when the group joins block b.
        cost = (c * (2 * (counts - target) + c)).sum(axis=1)
        best = min(range(n_folds), key=lambda b: (cost[b], n_in[b], b))
        assign[i] = best
        counts[best] += c
        n_in[best] += c.sum()
    _refine(assign, sizes, counts, target)
    blocks: list[list[str]] = [[] for _ in range(n_folds)]
    for i, name in enumerate(names):
        blocks[assign[i]].extend(t.track_id for t in groups[name])
    empty = [b for b, block in enumerate(blocks) if not block]
    if empty:
        raise DataError(f"artist folds: blocks {empty} are empty ({len(groups)} groups, {n_folds} folds)")
    folds = _rotate(blocks)
    _check_every_class_trains(folds, tracks, by_genre, keys, n_folds)
    return folds


def _check_every_class_trains(folds: Sequence[Split], tracks: Sequence[Track], by_class: Mapping[str, list[str]],
                              keys: Mapping[str, str], n_folds: int) -> None:
    """Refuse artist folds in which a class has no training track: a net trained there never sees the class,
    yet is tested on it. It happens when a class's tracks come from too few artists (all of GTZAN-mini's reggae
    is Bob Marley): its groups fill fewer than three blocks, two of them adjacent."""
    class_of = {t.track_id: t.genre for t in tracks}
    trained = [{class_of[t] for t in f.train} for f in folds]
    bad = {c: [k for k, seen in enumerate(trained) if c not in seen] for c in by_class}
    bad = {c: ks for c, ks in bad.items() if ks}
    if bad:
        what = "; ".join(f"class {c!r} in fold{'s' * (len(ks) > 1)} {', '.join(map(str, ks))} "
                         f"({len(by_class[c])} tracks by {len({keys[t] for t in by_class[c]})} artist group(s))"
                         for c, ks in bad.items())
        raise DataError(f"artist split ({n_folds} folds): no training track of {what}; every class needs tracks "
                        "by at least 3 artists (add artists, or use --split=stratified)")


def get_split(workdir, corpus: str, tracks: Sequence[Track], split: str, fold: int, *,
              classes: Sequence[str] | None = None, kind: str | None = None, n_folds: int = N_FOLDS) -> Split:
    """Fold `fold` of split `split` for a corpus, made once and then read from its split file.

    The file is `workdir.split_file(corpus, split)` (`splits/<corpus>-<split>.json`), or for stratified
    and artist folds with n_folds other than N_FOLDS `splits/<corpus>-<split>-<n>folds.json`. It records
    the track ids and a digest of their classes, artists and split values, and must match them.

    Args:
      workdir: a `mgc_jax.workdir.Workdir`.
      corpus: the corpus name (`Corpus.name`).
      tracks: the corpus tracks.
      split: "stratified" (n_folds folds, any corpus), "artist" (n_folds folds: GTZAN with Sturm's index,
        or a manifest's artist column), "manifest" (one fold, 0: the manifest's split column) or
        "filtered" (GTZAN, one fold, 0; corpus tracks missing from the lists are ignored, list tracks
        missing from the corpus are dropped).
      fold: fold index.
      classes: the corpus's class names in label order (`Corpus.classes`); default GTZAN's GENRES.
      kind: the corpus kind (`Corpus.kind`: gtzan, folder, manifest, synthetic); default "synthetic" for
        the corpus named "synthetic", else "gtzan" (the callers from before corpora were general).
      n_folds: folds of the stratified and artist splits (>= 3).

    Raises:
      DataError: unknown split, fold out of range, a split file made from other tracks (or other labels,
        artists, split values), or a split that cannot be made for this corpus (naming why).
    """
    classes = tuple(GENRES if classes is None else classes)
    kind = kind or ("synthetic" if corpus == CORPUS_NAME else "gtzan")
    _check_request(split, corpus, kind, tracks, n_folds)
    ids = sorted(t.track_id for t in tracks)
    path = workdir.split_file(corpus, split_dir_name(split, n_folds))  # the run directories' rule
    digest = _inputs_digest(tracks)
    if path.exists():
        saved = read_json(path)
        if saved.get("format") != SPLIT_FILE_FORMAT or saved.get("split") != split:
            raise DataError(f"{path}: not a {split} split file of this version; delete it to make a new one")
        if saved["tracks"] != ids:
            new, gone = sorted(set(ids) - set(saved["tracks"])), sorted(set(saved["tracks"]) - set(ids))
            raise DataError(
                f"{path} was made from another track list ({len(new)} tracks now present that it lacks, "
                f"e.g. {new[:3]}; {len(gone)} it has that are gone, e.g. {gone[:3]}); delete it to make a new split")
        if saved.get("inputs_sha256", digest) != digest:  # files written before the digest: ids only
            raise DataError(f"{path} was made from other labels, artists or split values of the same tracks; "
                            "delete it to make a new split")
        folds = [Split(*(tuple(f[p]) for p in Split._fields)) for f in saved["folds"]]
    else:
        folds, extra = _make(split, tracks, classes, n_folds)
        write_json(path, {"format": SPLIT_FILE_FORMAT, "corpus": corpus, "split": split, "n_folds": len(folds),
                          "seed": SEED, "tracks": ids, "classes": list(classes), "inputs_sha256": digest, **extra,
                          "folds": [f._asdict() for f in folds]})
        logging.info("wrote %s split of %s (%d folds) to %s", split, corpus, len(folds), path)
    if not (isinstance(fold, (int, np.integer)) and 0 <= fold < len(folds)):
        raise DataError(f"fold {fold!r} out of range: the {split} split has folds 0..{len(folds) - 1}")
    if split == "manifest":  # on every call, not only when the split file is made
        warn_untested_classes(folds[int(fold)], tracks, classes)
    return folds[int(fold)]


def check_split(corpus: str, kind: str, tracks: Sequence[Track], split: str, *, classes: Sequence[str],
                n_folds: int = N_FOLDS) -> None:
    """Raise now the DataError that `get_split` would raise for these tracks, touching no file: the launchers
    call it on a corpus's discovered tracks, so that a wrong --split or a class too small for the folds is
    refused before hours of feature extraction rather than after.

    Raises:
      DataError: as `get_split` (unknown split, a split this corpus kind cannot have, a class too small for the
        folds, a manifest split without a train track of a class, ...).
    """
    _check_request(split, corpus, kind, tracks, n_folds)
    _make(split, tracks, tuple(classes), n_folds)


def _check_request(split: str, corpus: str, kind: str, tracks: Sequence[Track], n_folds: int) -> None:
    """What `get_split` and `check_split` refuse before making folds: an unknown split, one this corpus kind
    cannot have, a bad fold count for a split that has several folds."""
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    _check_split_applies(split, corpus, kind, tracks)
    if split not in ONE_FOLD_SPLITS:
        _check_n_folds(n_folds)


def _check_split_applies(split: str, corpus: str, kind: str, tracks: Sequence[Track]) -> None:
    if split == "stratified":
        return
    if kind == "synthetic":
        raise DataError(f"the {split} split needs GTZAN track identities or a manifest's columns; "
                        f"the {corpus} corpus has only the stratified split")
    if split == "filtered" and kind != "gtzan":
        raise DataError(f"the filtered split is GTZAN's fault-filtered track list; corpus {corpus} is a {kind} "
                        "corpus (use --split=stratified, artist or manifest)")
    if split == "artist" and kind != "gtzan" and not any(t.artist for t in tracks):
        raise DataError(f"the artist split needs artists; corpus {corpus} ({kind}) has none "
                        "(give a manifest an artist column, or use --split=stratified)")
    if split == "manifest" and (kind != "manifest" or not any(t.split for t in tracks)):
        raise DataError(f"the manifest split needs a manifest with a split column (train/valid/test); "
                        f"corpus {corpus} ({kind}) has none")


def _inputs_digest(tracks: Sequence[Track]) -> str:
    """SHA-256 of each track's id, class, artist and split value: what a split is made from."""
    rows = sorted([t.track_id, t.genre, t.artist, t.split] for t in tracks)
    return hashlib.sha256(json.dumps(rows).encode("utf-8")).hexdigest()


def _make(split: str, tracks: Sequence[Track], classes: tuple[str, ...], n_folds: int) -> tuple[list[Split], dict]:
    if split == "stratified":
        return stratified_folds(tracks, n_folds, classes=classes), {}
    if split == "artist":
        # GTZAN: Sturm's index; other corpora: their tracks' own artists (a manifest's column).
        artists = None if all(t.artist is None for t in tracks) else {t.track_id: t.artist or "" for t in tracks}
        return artist_folds(tracks, n_folds, artists=artists, classes=classes), {}
    if split == "manifest":
        return [manifest_split(tracks, classes)], {}
    present = {t.track_id for t in tracks}
    full = filtered_split()
    kept = Split(*(tuple(t for t in part if t in present) for part in full))
    listed = set().union(*full)
    ignored = sorted(present - listed)
    missing = sorted(listed - present)
    for name, part in zip(Split._fields, kept):
        if not part:
            raise DataError(f"the corpus holds none of the {len(getattr(full, name))} tracks of the filtered {name} list")
    if missing:
        logging.warning("filtered split: %d listed tracks are not in the corpus (e.g. %s)", len(missing), missing[:3])
    logging.info("filtered split: %d/%d/%d train/valid/test tracks; %d corpus tracks not in the lists are ignored",
                 *map(len, kept), len(ignored))
    return [kept], {"missing_from_corpus": missing, "ignored": ignored}


def _refine(assign: np.ndarray, sizes: np.ndarray, counts: np.ndarray, target: np.ndarray,
            max_passes: int = 50) -> None:
    """Local search after the greedy deal: single-group moves and two-group swaps between blocks, each
    taken only if it lowers sum_{b,g} (counts[b, g] - target[g])^2 (in place; deterministic).

    The greedy deal alone can leave a block without a genre whose big artists landed elsewhere.
    """
    for _ in range(max_passes):
        improved = False
        for i in range(len(sizes)):
            a, c = assign[i], sizes[i]
            dev = counts - target
            # Moving group i from block a to b: remove + add terms of the squared deviation.
            move = (c * (c - 2 * dev[a])).sum() + (c * (c + 2 * dev)).sum(axis=1)
            move[a] = 0.0
            # Swapping group i (in a) with group j (in b): d = c_j - c_i; change = sum 2d(dev_a - dev_b) + 2d^2.
            d = sizes - c
            swap = (2 * d * (dev[a] - dev[assign]) + 2 * d * d).sum(axis=1)
            swap[assign == a] = 0.0
            b, j = int(np.argmin(move)), int(np.argmin(swap))
            if min(move[b], swap[j]) > -1e-9:
                continue
            improved = True
            if move[b] <= swap[j]:
                counts[a] -= c
                counts[b] += c
                assign[i] = b
            else:
                b = assign[j]
                counts[a] += sizes[j] - c
                counts[b] += c - sizes[j]
                assign[i], assign[j] = b, a
        if not improved:
            return


def _rotate(blocks: list[list[str]]) -> list[Split]:
    n = len(blocks)
    folds = []
    for k in range(n):
        valid = (k + 1) % n
        train = [t for b, block in enumerate(blocks) if b not in (k, valid) for t in block]
        folds.append(Split(tuple(sorted(train)), tuple(sorted(blocks[valid])), tuple(sorted(blocks[k]))))
    return folds


def _by_class(tracks: Sequence[Track], classes: Sequence[str]) -> dict[str, list[str]]:
    """Track ids per class (`classes` order, classes present only), each list sorted."""
    ids = [t.track_id for t in tracks]
    if len(set(ids)) != len(ids):
        dup = sorted(t for t, n in collections.Counter(ids).items() if n > 1)
        raise DataError(f"duplicate track ids: {dup[:5]}")
    unknown = sorted({t.genre for t in tracks} - set(classes))
    if unknown:
        raise DataError(f"unknown classes {unknown}; the corpus's classes are {', '.join(classes)}")
    members: dict[str, list[str]] = collections.defaultdict(list)
    for t in tracks:
        members[t.genre].append(t.track_id)
    by_class = {c: sorted(members[c]) for c in classes if members[c]}
    if not by_class:
        raise DataError("no tracks to split")
    return by_class


def _check_n_folds(n_folds: int) -> None:
    if not n_folds_ok(n_folds):
        raise DataError(f"n_folds={n_folds!r}: {N_FOLDS_RULE}")


def _normalise_artist(name: str) -> str:
    name = name.lower().replace("&", " and ")
    name = re.sub(r"[^\w\s/]", " ", name)
    return " ".join(name.split())
