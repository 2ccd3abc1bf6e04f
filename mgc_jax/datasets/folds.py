"""Train / validation / test splits at track level: the paper's stratified folds, the fault-filtered
split, and artist-grouped stratified folds; saved as JSON in the workdir so every run is reproducible.

Fold rotation (FEATURES_SPEC §4.1), shared by the stratified and the artist folds: the tracks are cut
into `n_folds` disjoint blocks; fold k tests on block k, validates on block (k + 1) mod n_folds and
trains on the other n_folds - 2 blocks. Every track is tested exactly once over the folds, and with
10 folds each fold is 80/10/10.

- `stratified_folds`: per genre, a seeded permutation of the genre's tracks (sorted by id) is cut into
  n_folds nearly equal blocks (`np.array_split`), so each fold is 80/10/10 per genre.
- `filtered_split`: the fault-filtered, artist-disjoint GTZAN split of Kereliuk, Sturm & Larsen 2015
  (train/valid/test = 443/197/290 tracks), shipped as package data (see data/SOURCES.md).
- `artist_folds`: whole artist groups (from Sturm's 2012 GTZAN index, package data) are dealt into the
  blocks, so no artist is on two sides of any boundary of any fold. A track without a known artist is a
  group of its own. Groups go largest first (ties in a seeded random order), each into the block where
  it increases least the squared deviation of the block's per-genre counts from the per-genre target
  (genre size / n_folds); ties go to the block with fewer tracks. Balance is as good as the artists
  allow: GTZAN's reggae has 35 Bob Marley tracks, which must all share one block.
"""
from __future__ import annotations

import collections
import importlib.resources
import re
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
from absl import logging

from mgc_jax.config import N_FOLDS, SPLITS
from mgc_jax.datasets.gtzan import GENRES, Track, label
from mgc_jax.errors import DataError

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


def stratified_folds(tracks: Sequence[Track], n_folds: int = N_FOLDS, seed: int = SEED) -> list[Split]:
    """The paper's protocol: per genre 80/10/10 (for 10 folds), each track tested in exactly one fold.

    Args:
      tracks: the corpus (`track_id`, `genre` of each; genres from GENRES).
      n_folds: number of blocks and folds (>= 3: test, validation and training need a block each).
      seed: permutation seed; genre g uses `np.random.default_rng([seed, label(g)])`, so adding or
        removing another genre does not move a track between blocks.

    Raises:
      DataError: fewer than n_folds tracks in a genre, or a duplicate track id.
    """
    _check_n_folds(n_folds)
    by_genre = _by_genre(tracks)
    blocks: list[list[str]] = [[] for _ in range(n_folds)]
    for genre, ids in by_genre.items():
        if len(ids) < n_folds:
            raise DataError(f"genre {genre} has {len(ids)} tracks: {n_folds} folds need at least {n_folds} per genre")
        perm = np.random.default_rng([seed, label(genre)]).permutation(len(ids))
        for block, part in zip(blocks, np.array_split(perm, n_folds)):
            block.extend(ids[i] for i in part)
    return _rotate(blocks)


def filtered_split() -> Split:
    """The fault-filtered GTZAN split (Kereliuk et al. 2015): 443 / 197 / 290 track ids."""
    return Split(*(tuple(sorted(_read_list(f"{part}_filtered.txt"))) for part in Split._fields))


def sturm_artists() -> dict[str, str]:
    """Artist of each GTZAN track id from Sturm's 2012 index ("" where the index has none)."""
    artists = {}
    for line in _data_text("GTZANindex_sturm2012.txt").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        fields = [f.strip() for f in line.split(":::")]
        artists[fields[0].rsplit(".", 1)[0]] = fields[1] if len(fields) > 1 else ""
    return artists


def artist_groups(tracks: Sequence[Track], artists: Mapping[str, str] | None = None) -> dict[str, str]:
    """Group key of each track id: tracks sharing an artist (or a credited collaborator) share a key.

    Args:
      tracks: the corpus.
      artists: track id -> artist name; default `sturm_artists()`. Names are compared case-insensitively
        with "&" read as "and" and punctuation ignored ("Earth, Wind & Fire" = "Earth Wind and Fire").
        A track without a name gets a group of its own.
    """
    artists = sturm_artists() if artists is None else artists
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
                 artists: Mapping[str, str] | None = None) -> list[Split]:
    """Stratified folds whose blocks are unions of whole artist groups (method: module docstring).

    Args:
      tracks: the corpus.
      n_folds: number of blocks and folds (>= 3).
      seed: order of equal-sized groups.
      artists: track id -> artist; default Sturm's GTZAN index.

    Raises:
      DataError: fewer groups than folds, or a block left empty.
    """
    _check_n_folds(n_folds)
    by_genre = _by_genre(tracks)
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
    return _rotate(blocks)


def get_split(workdir, corpus: str, tracks: Sequence[Track], split: str, fold: int) -> Split:
    """Fold `fold` of split `split` for a corpus, made once and then read from `splits/<corpus>-<split>.json`.

    Args:
      workdir: a `mgc_jax.workdir.Workdir`.
      corpus: the corpus name (`Corpus.name`).
      tracks: the corpus tracks; the split file records their ids and must match them.
      split: "stratified" (10 folds), "artist" (10 folds) or "filtered" (one fold, 0; corpus tracks
        missing from the lists are ignored, list tracks missing from the corpus are dropped).
      fold: fold index.

    Raises:
      DataError: unknown split, fold out of range, a split file made from other tracks, or a split that
        cannot be made for this corpus (e.g. "filtered" / "artist" on the synthetic corpus).
    """
    from mgc_jax.datasets.synthetic import CORPUS_NAME
    from mgc_jax.workdir import read_json, write_json

    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    if split != "stratified" and corpus == CORPUS_NAME:
        raise DataError(f"the {split} split needs GTZAN track identities (artists, fault lists); "
                        f"the {CORPUS_NAME} corpus has only the stratified split")
    ids = sorted(t.track_id for t in tracks)
    path = workdir.split_file(corpus, split)
    if path.exists():
        saved = read_json(path)
        if saved.get("format") != SPLIT_FILE_FORMAT or saved.get("split") != split:
            raise DataError(f"{path}: not a {split} split file of this version; delete it to make a new one")
        if saved["tracks"] != ids:
            new, gone = sorted(set(ids) - set(saved["tracks"])), sorted(set(saved["tracks"]) - set(ids))
            raise DataError(
                f"{path} was made from another track list ({len(new)} tracks now present that it lacks, "
                f"e.g. {new[:3]}; {len(gone)} it has that are gone, e.g. {gone[:3]}); delete it to make a new split")
        folds = [Split(*(tuple(f[p]) for p in Split._fields)) for f in saved["folds"]]
    else:
        folds, extra = _make(split, tracks)
        write_json(path, {"format": SPLIT_FILE_FORMAT, "corpus": corpus, "split": split, "n_folds": len(folds),
                          "seed": SEED, "tracks": ids, **extra,
                          "folds": [f._asdict() for f in folds]})
        logging.info("wrote %s split of %s (%d folds) to %s", split, corpus, len(folds), path)
    if not (isinstance(fold, (int, np.integer)) and 0 <= fold < len(folds)):
        raise DataError(f"fold {fold!r} out of range: the {split} split has folds 0..{len(folds) - 1}")
    return folds[int(fold)]


def _make(split: str, tracks: Sequence[Track]) -> tuple[list[Split], dict]:
    if split == "stratified":
        return stratified_folds(tracks), {}
    if split == "artist":
        return artist_folds(tracks), {}
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


def _by_genre(tracks: Sequence[Track]) -> dict[str, list[str]]:
    """Track ids per genre (GENRES order, genres present only), each list sorted."""
    ids = [t.track_id for t in tracks]
    if len(set(ids)) != len(ids):
        dup = sorted(t for t, n in collections.Counter(ids).items() if n > 1)
        raise DataError(f"duplicate track ids: {dup[:5]}")
    by_genre: dict[str, list[str]] = {}
    for genre in GENRES:
        members = sorted(t.track_id for t in tracks if t.genre == genre)
        if members:
            by_genre[genre] = members
    unknown = sorted({t.genre for t in tracks} - set(GENRES))
    if unknown:
        raise DataError(f"unknown genres {unknown}; GTZAN genres are {', '.join(GENRES)}")
    if not by_genre:
        raise DataError("no tracks to split")
    return by_genre


def _check_n_folds(n_folds: int) -> None:
    if not (isinstance(n_folds, int) and n_folds >= 3):
        raise DataError(f"n_folds={n_folds!r}: need an int >= 3 (a test, a validation and a training block)")


def _normalise_artist(name: str) -> str:
    name = name.lower().replace("&", " and ")
    name = re.sub(r"[^\w\s/]", " ", name)
    return " ".join(name.split())


def _data_text(name: str) -> str:
    return importlib.resources.files("mgc_jax.datasets").joinpath("data", name).read_text(encoding="utf-8")


def _read_list(name: str) -> list[str]:
    """Track ids of a split list whose lines read `<genre>/<genre>.NNNNN.wav`."""
    return [line.strip().rsplit("/", 1)[-1].rsplit(".", 1)[0] for line in _data_text(name).splitlines() if line.strip()]
