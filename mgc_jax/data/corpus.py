"""A corpus ready for training: its tracks (synthetic on first use, or what `--data_dir` names), its classes,
and their feature maps extracted into the cache.
"""
from __future__ import annotations

import dataclasses
import pathlib

import numpy as np
from absl import logging

from dsp import FeatureConfig
from mgc_jax import distributed
from mgc_jax.data import cache as cache_lib
from mgc_jax.data import extraction, folds, gtzan, sources, synthetic
from mgc_jax.data.clips import CLIP_FRAMES
from mgc_jax.data.summary import CorpusSummary, summary_lines, write_skipped
from mgc_jax.errors import DataError

SYNTHETIC_TRACKS_PER_GENRE = 40
"""Default size of the built-in corpus: 400 tracks of 30 s. Each stratified fold then tests on 4 tracks
per genre (40 tracks, 760 clips: every window) and trains on 32 per genre (5,760 clips). Why 40, not 20: with 16
training tracks per genre net_MUSIC on raw-unit maps (the paper's input; roughness and zcr outweigh the
other six features by 1e3-1e5) overfit: 85-100 % test tracks (84-96 % clips) on folds 0, 3 and 7; with 32
per genre, 92.5-100 % tracks (88-98 % clips) on folds 0, 3, 5, 7 and 9. A 40-track test set also moves in
2.5-point steps instead of 5.
`python -m launch.train --net=music --fold=3` stays a few minutes on a 2-core CPU."""
SYNTHETIC_SEED = 0


@dataclasses.dataclass(frozen=True)
class Corpus:
    """The usable tracks of a corpus and where their features are."""

    name: str  # sources.corpus_name: names the feature cache, splits, runs, results
    root: pathlib.Path  # the corpus folder, or the manifest file
    tracks: tuple  # datasets.track.Track of every track with cached features and at least one clip, by id
    cache: cache_lib.FeatureCache
    cfg: object  # dsp.FeatureConfig of the cache
    problems: tuple = ()  # (path, cause) of every file not used: discovery, extraction, too short
    report: extraction.ExtractReport | None = None  # what this call's extraction did
    classes: tuple[str, ...] = gtzan.GENRES  # class names in label order (>= 2; any number when not labelled)
    kind: str = "gtzan"  # sources.KINDS: "gtzan", "folder", "manifest" or "synthetic"
    summary: CorpusSummary | None = None  # classes, tracks, hours, formats, files not used (mgc_jax.data.summary)

    def labels(self, track_ids) -> np.ndarray:
        """int32 [N] label of each track id: the index of its class in `classes`.

        Raises:
          DataError: a track id not in the corpus.
        """
        index = {c: i for i, c in enumerate(self.classes)}
        class_of = {t.track_id: t.genre for t in self.tracks}
        missing = [t for t in track_ids if t not in class_of]
        if missing:
            raise DataError(f"corpus {self.name}: no track {missing[0]!r} ({len(missing)} unknown track ids)")
        return np.array([index[class_of[t]] for t in track_ids], np.int32)

    def split(self, workdir, split: str, fold: int, *, n_folds: int = folds.N_FOLDS) -> folds.Split:
        """Fold `fold` of split `split` (folds.SPLITS) of this corpus, from (or into) its split file."""
        return folds.get_split(workdir, self.name, self.tracks, split, fold, classes=self.classes, kind=self.kind,
                               n_folds=n_folds)


def prepare_corpus(data_dir: str | None, workdir, cfg=None, *, tracks_per_genre: int | None = None,
                   progress: bool = True, batch_size: int = 8, verify: bool = False, split: str | None = None,
                   n_folds: int = folds.N_FOLDS, decode_threads: int | None = None,
                   stft_dtype: str | None = None, labelled: bool = True, echo=None) -> Corpus:
    """Find (or make) a corpus and extract its features, skipping finished tracks.

    Args:
      data_dir: a GTZAN-layout folder, a labelled folder, a `.csv` manifest (`mgc_jax.data.sources`),
        or None for the built-in synthetic corpus.
      workdir: a `mgc_jax.workdir.Workdir`.
      cfg: `dsp.FeatureConfig` (default: the paper's).
      tracks_per_genre: synthetic corpus only: its size when it is made (default
        SYNTHETIC_TRACKS_PER_GENRE); an existing corpus of another size is refused.
      progress: show the extraction progress bar.
      batch_size: tracks per vmapped extraction batch.
      verify: re-hash every cached map and extract again what rotted (`extraction.extract`).
      decode_threads: threads decoding files ahead of the maps (`extraction.extract`; None: one per core).
      stft_dtype: storage of the STFT maps (`extraction.extract`): "float16", "float32", or None (as cached).
      split, n_folds: the split the caller will ask for (`Corpus.split`); given, it is checked on the
        discovered tracks before any extraction (`folds.check_split`), so a split this corpus cannot have
        fails in seconds.
      labelled: the corpus is for training (default): its classes are checked (two at least, each with usable
        tracks). False (`launch.extract`): any folder or manifest is extracted, one class or none (audio files
        without class folders); only a corpus without any usable track is refused.
      echo: how the summary is printed, one call per line (`print` in the launchers); None logs it at INFO.

    The summary of what was found (`mgc_jax.data.summary`: classes, tracks, hours, formats, files not used by
    cause; the full list in `workdir.skipped_file(name)`) is printed before anything is refused, and what
    extraction adds to it after extraction; a class-level refusal then names that class's files not used.

    Raises:
      DataError: no usable track, a path that is not a corpus, a bad manifest, fewer than two classes (also
        among the usable tracks of a GTZAN-layout or synthetic corpus), a
        class of a labelled folder or manifest left without a usable track, a synthetic corpus of
        another size, or a `split` that cannot be made from the discovered tracks.
    """
    if cfg is None:
        cfg = FeatureConfig()
    if tracks_per_genre is not None and not (isinstance(tracks_per_genre, int) and tracks_per_genre >= 1):
        raise DataError(f"tracks_per_genre={tracks_per_genre!r}: the synthetic corpus needs an int >= 1")
    if data_dir is None:
        root = _synthetic_root(workdir, tracks_per_genre)
        scanned = gtzan.scan(root)
        found = sources.Source("synthetic", synthetic.CORPUS_NAME, root, gtzan.GENRES, scanned.tracks, scanned.skipped,
                               scanned.seconds, scanned.skipped_class)
    else:
        if tracks_per_genre is not None:
            raise DataError("tracks_per_genre sets the size of the synthetic corpus; it cannot apply to --data_dir")
        found = sources.find(data_dir, labelled=labelled, exclude=(workdir.root,))
    name, root = found.name, found.root
    primary = distributed.is_primary()
    skipped_file = workdir.skipped_file(name)
    summary = CorpusSummary.of(found)
    if primary:  # what was found comes first, whatever is refused next
        _say(echo, summary.lines(skipped_file if summary.skipped else None))
        _record_skipped(skipped_file, summary)
    try:
        if labelled:
            sources.check_usable(root, found.kind, found.classes, found.tracks, found.skipped)
            if found.kind in ("folder", "manifest"):
                sources.check_classes_used(root, found.classes, found.tracks)
            _check_two_classes(root, found.tracks)  # before extracting anything; again below on the usable tracks
            if split is not None:
                folds.check_split(name, found.kind, found.tracks, split, classes=found.classes, n_folds=n_folds)
        elif not found.tracks:
            raise DataError(f"{root}: no usable track ({sources.not_used(found.skipped)})")
    except DataError as e:
        raise DataError(summary.explain(str(e))) from e
    cache_dir = workdir.features_dir(name, cfg)
    older = [] if cache_dir.exists() else workdir.other_feature_dirs(name, cfg)
    if older and distributed.is_primary():
        logging.warning("the dsp code changed since the maps in %s were made: extracting into %s (the older "
                        "cache is kept as it was; delete it once no run needs it)", ", ".join(map(str, older)),
                        cache_dir)
    report = extraction.extract(found.tracks, cache_dir, cfg, batch_size=batch_size, progress=progress,
                                verify=verify, decode_threads=decode_threads, stft_dtype=stft_dtype)
    cache = cache_lib.FeatureCache(cache_dir)
    entries = cache.entries()
    lost = list(report.failed)
    reported = {path for path, _ in report.failed}
    for t in found.tracks:  # other processes' failures (in one process: the same as report.failed)
        failure = cache.failures().get(t.track_id)
        if t.track_id not in entries and failure is not None and failure["path"] not in reported:
            lost.append((failure["path"], failure["cause"]))
    usable = []
    for t in found.tracks:
        if t.track_id not in entries:
            continue
        if entries[t.track_id]["n_frames"] < CLIP_FRAMES:
            where = f"{t.origin}: " if t.origin else ""
            lost.append((t.path, f"{where}shorter than one {CLIP_FRAMES}-frame clip "
                                 f"({entries[t.track_id]['n_frames']} frames)"))
            continue
        usable.append(t)
    problems = list(found.skipped) + lost
    summary = CorpusSummary.of(found, usable, lost)
    if primary and lost:
        _say(echo, [f"  after extraction: {len(usable)} usable tracks; {len(lost)} more files not used, by cause "
                    f"(all in {skipped_file}):"] + summary_lines(lost))
        _record_skipped(skipped_file, summary)
    try:
        if not usable:
            raise DataError(f"{root}: no usable track ({sources.not_used(problems)})")
        if labelled:
            if found.kind in ("folder", "manifest"):
                sources.check_classes_used(root, found.classes, usable)
            _check_two_classes(root, usable)
    except DataError as e:
        raise DataError(summary.explain(str(e))) from e
    if found.kind == "gtzan":
        _warn_partial_gtzan(root, usable)
    _warn_identical_audio(usable, entries)
    logging.info("corpus %s (%s, %d classes): %d tracks (%d extracted now, %d cached before, %d not used), "
                 "features in %s",
                 name, found.kind, len(found.classes), len(usable), len(report.done), len(report.skipped),
                 len(problems), cache_dir)
    return Corpus(name, root, tuple(usable), cache, cfg, tuple(problems), report, tuple(found.classes), found.kind,
                  summary)


def _say(echo, lines) -> None:
    """Print the lines of a summary through `echo` (one call per line), or log them as one INFO record."""
    if echo is None:
        logging.info("%s", "\n".join(lines))
    else:
        for line in lines:
            echo(line)


def _record_skipped(path, summary) -> None:
    """Keep corpora/<corpus>/skipped.tsv current: written when files were not used, refreshed when it exists."""
    if summary.skipped or path.exists():
        write_skipped(path, summary)


def _check_two_classes(root, tracks) -> None:
    """Refuse tracks of a single class, whatever the corpus kind (e.g. a GTZAN layout or synthetic corpus holding
    one genre folder): a net trained on them answers that class for everything and scores 1.000 on its test."""
    present = sorted({t.genre for t in tracks})
    if len(present) < sources.MIN_CLASSES:
        raise DataError(f"{root}: every usable track is of one class ({', '.join(present)}): training needs at "
                        f"least {sources.MIN_CLASSES} classes")


def _warn_identical_audio(tracks, entries) -> list[list[str]]:
    """Warn of tracks whose files are byte-identical (the cache's audio SHA-256): copies can land on both sides of
    a split (GTZAN itself holds such repetitions: Sturm 2013). Returns the groups of track ids."""
    by_hash: dict[str, list[str]] = {}
    for t in tracks:
        digest = entries[t.track_id].get("audio_sha256")
        if digest:
            by_hash.setdefault(digest, []).append(t.track_id)
    groups = sorted(sorted(g) for g in by_hash.values() if len(g) > 1)
    if groups:
        logging.warning("byte-identical copies: %d track(s) have the audio file of another (e.g. %s); a copy can be "
                        "trained and tested on at once: remove the copies to measure on distinct recordings",
                        sum(len(g) - 1 for g in groups), " = ".join(groups[0]))
    return groups


def _warn_partial_gtzan(root, tracks) -> None:
    """A GTZAN layout keeps GTZAN's ten classes whatever genres it holds (a label always means the same genre,
    and results compare with the paper's), so a partial copy trains a ten-output net: say so, and how not to."""
    absent = [g for g in gtzan.GENRES if g not in {t.genre for t in tracks}]
    if absent:
        logging.warning("%s: a GTZAN layout without %s: its classes stay GTZAN's ten (labels are genre indices), so "
                        "the net has outputs for genres it never trains on; for the present genres alone as the "
                        "class set, list the files in a CSV manifest (path,label)", root, ", ".join(absent))


def _synthetic_root(workdir, tracks_per_genre: int | None) -> pathlib.Path:
    if distributed.process_count() == 1:
        return _check_or_make_synthetic(workdir, tracks_per_genre)
    # Several processes: process 0 alone makes (or checks) the corpus; every process meets it at the barrier
    # whatever it found on disk, then checks the finished corpus itself.
    if distributed.is_primary():
        _check_or_make_synthetic(workdir, tracks_per_genre)
    distributed.barrier("mgc_jax.corpus.synthetic")
    return _check_or_make_synthetic(workdir, tracks_per_genre)


def _check_or_make_synthetic(workdir, tracks_per_genre: int | None) -> pathlib.Path:
    root = workdir.corpus_dir(synthetic.CORPUS_NAME)
    have = synthetic.read_manifest(root)
    want = SYNTHETIC_TRACKS_PER_GENRE if tracks_per_genre is None else tracks_per_genre  # 0 is not "unset"
    if have is not None:
        expected = synthetic.manifest(have["tracks_per_genre"], have["seconds"], SYNTHETIC_SEED)
        if have != expected:
            raise DataError(f"{root} holds a synthetic corpus of another version or seed; delete it to remake it")
        if tracks_per_genre is not None and have["tracks_per_genre"] != tracks_per_genre:
            raise DataError(f"{root} holds a synthetic corpus of {have['tracks_per_genre']} tracks per genre, "
                            f"not {tracks_per_genre}; use another workdir or delete {root}")
        return root
    if not distributed.is_primary():
        raise DataError(f"{root}: no finished synthetic corpus after process 0 made it (is --workdir on a "
                        "file system every process shares?)")
    logging.info("making the synthetic corpus (%d tracks per genre, 30 s each) in %s", want, root)
    return synthetic.make_corpus(root, want, seed=SYNTHETIC_SEED)
