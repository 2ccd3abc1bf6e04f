"""Cross-validation: train the missing (net, fold) runs, read every run's test probabilities and decide per
system of Table 2 (the nets, FUSION1, FUSION2, early fusion) with the MFCC+SVM baseline beside them.
"""
from __future__ import annotations

import dataclasses
import pathlib
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

import numpy as np
from absl import logging

import mgc_jax.config
from mgc_jax import distributed, evaluate
from mgc_jax.config import N_FOLDS, NETS, check_folds
from mgc_jax.errors import ConfigError, DataError
from mgc_jax.eval import baseline, reports
from mgc_jax.train import loop as train
from mgc_jax.train import rundir, summaries
from mgc_jax.train.rundir import TEST_PROBS, FoldProbs, is_finished, read_test_probs

BASELINE = "baseline"  # the baseline's "net" name: its run directories and its key in `collect`'s result
NET_SYSTEM = {"stft": "net_STFT", "music": "net_MUSIC", "early": "early_fusion", BASELINE: "baseline"}
FUSION_SYSTEMS = {"FUSION1": evaluate.fusion1, "FUSION2": evaluate.fusion2}  # over net_STFT + net_MUSIC
SYSTEMS = ("net_STFT", "net_MUSIC", "FUSION1", "FUSION2", "early_fusion", "baseline",
           "FUSION2+baseline")  # Table 2's row order
LABELS = {"early_fusion": "early fusion", "baseline": "baseline (MFCC+SVM)"}  # display names that differ


def label(system: str) -> str:
    return LABELS.get(system, system)


# ------------------------------------------------------------------------------------------- parsing


def parse_folds(spec: str) -> tuple[int, ...]:
    """'0-9' -> (0, ..., 9); '3' -> (3,); '0-2,5' -> (0, 1, 2, 5). Sorted; ValueError on bad or repeated folds."""
    folds: list[int] = []
    for part in str(spec).split(","):
        m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if not m:
            raise ValueError(f"folds {spec!r}: expected N, N-M or a comma list of them (e.g. 0-9)")
        a, b = int(m[1]), int(m[2] if m[2] is not None else m[1])
        if b < a:
            raise ValueError(f"folds {spec!r}: empty range {a}-{b}")
        folds.extend(range(a, b + 1))
    if len(set(folds)) != len(folds):
        raise ValueError(f"folds {spec!r}: a fold is listed twice")
    return tuple(sorted(folds))


def parse_nets(spec: str) -> tuple[str, ...]:
    """'stft,music' -> ('stft', 'music'); ValueError naming an unknown or repeated net."""
    nets = tuple(n.strip() for n in str(spec).split(",") if n.strip())
    if not nets:
        raise ValueError("nets: none given (expected a comma list of stft, music, early)")
    for n in nets:
        if n not in NETS:
            raise ValueError(f"nets: unknown net {n!r} (expected a comma list of {', '.join(NETS)})")
    if len(set(nets)) != len(nets):
        raise ValueError(f"nets {spec!r}: a net is listed twice")
    return nets


# --------------------------------------------------------------------------------------- run files


def run_dirs(workdir, corpus: str, split: str, nets: Sequence[str], folds: Sequence[int], *,
             n_folds: int = N_FOLDS) -> dict:
    """{(net, fold): run directory} in fold-major order (net may be BASELINE)."""
    return {(net, fold): pathlib.Path(workdir.run_dir(corpus, split, net, fold, n_folds=n_folds))
            for fold in folds for net in nets}


def collect(workdir, corpus: str, split: str, nets: Sequence[str], folds: Sequence[int], *,
            require_all: bool = True, n_folds: int = N_FOLDS) -> dict:
    """{net: {fold: FoldProbs}} of the finished runs; DataError listing the unfinished ones if require_all."""
    dirs = run_dirs(workdir, corpus, split, nets, folds, n_folds=n_folds)
    missing = [d for d in dirs.values() if not is_finished(d)]
    if missing and require_all:
        shown = ", ".join(str(d) for d in missing[:4]) + (f" and {len(missing) - 4} more" if len(missing) > 4 else "")
        raise DataError(f"no {TEST_PROBS} (unfinished or never trained) in {shown}; "
                        f"train them with launch.train or launch.crossval and the same --split/--n_folds/--data_dir"
                        f"{_other_split_dirs(pathlib.Path(missing[0]).parents[2], pathlib.Path(missing[0]).parents[1])}")
    out: dict = {}
    for (net, fold), d in dirs.items():
        if is_finished(d):
            out.setdefault(net, {})[fold] = read_test_probs(d / TEST_PROBS)
    return out


def _other_split_dirs(corpus_runs: pathlib.Path, wanted: pathlib.Path) -> str:
    """' (this corpus has runs under stratified-5folds, manifest)' when runs of other splits or fold counts exist:
    the likely mistake is a missing --split or --n_folds."""
    others = sorted(d.name for d in corpus_runs.glob("*") if d.is_dir() and d != wanted)
    return f" (this corpus has runs under {', '.join(others)} of {corpus_runs})" if others else ""


# ------------------------------------------------------------------------------------------ training


class TrainReport(NamedTuple):
    trained: list  # (net, fold) trained (or resumed) by this call
    reused: list  # (net, fold) whose test_probs.npz already existed
    mismatched: list  # (net, fold, "field: saved != now; ...") reused runs whose config differs from the request


class Progress(NamedTuple):
    """What `train_missing` tells its `progress` callback: before each run it trains (`run` set) and once at
    the end (`run` None, done == total)."""

    done: int  # runs trained so far by this call
    total: int  # runs this call trains (those without test_probs.npz)
    elapsed_s: float  # wall time since the first of them started
    run: tuple[str, int] | None  # (net, fold) about to be trained

    @property
    def eta_s(self) -> float | None:
        """Mean time of the runs trained so far times the runs left (None before the first has finished)."""
        return self.elapsed_s / self.done * (self.total - self.done) if self.done else None


def train_missing(base_cfg, workdir, corpus, nets: Sequence[str], folds: Sequence[int], *,
                  progress: Callable[[Progress], None] | None = None, tensorboard: bool = True) -> TrainReport:
    """Train every (net, fold) without test_probs.npz, fold by fold, with `mgc_jax.train.loop.run`.

    base_cfg: a `mgc_jax.config.TrainConfig`; its net and fold are replaced per run (its split and n_folds
      are used; its model head is sized by `train.run` from the corpus's classes).
    corpus: an `mgc_jax.data.corpus.Corpus`, or a `LazyCorpus` whose preparation (feature extraction) only
      happens when some run needs training: a finished cross-validation never touches its audio.
    progress: called with a `Progress` before each run to train and once after the last (if any).
    tensorboard: the runs write TensorBoard events (`mgc_jax.train.summaries`).
    A finished run is reused even when its config differs from base_cfg (that is reported in
    `mismatched`, and logged): delete its directory to retrain it.
    """
    corpus = LazyCorpus.of(corpus)
    trained, reused, mismatched, todo = [], [], [], []
    dirs = run_dirs(workdir, corpus.name, base_cfg.split, nets, folds, n_folds=base_cfg.n_folds)
    for (net, fold), d in dirs.items():
        if not is_finished(d):
            todo.append((net, fold, d))
            continue
        reused.append((net, fold))
        diff = _config_mismatch(d, base_cfg.for_run(net, fold))
        if diff:
            mismatched.append((net, fold, diff))
            logging.warning("reusing %s, trained with another config (%s)", d, diff)
    t0 = time.perf_counter()
    for net, fold, d in todo:
        if progress is not None:
            progress(Progress(len(trained), len(todo), time.perf_counter() - t0, (net, fold)))

        logging.info("training %s fold %d (%s split) in %s", net, fold, base_cfg.split, d)
        train.run(base_cfg.for_run(net, fold), workdir, corpus.get(), tensorboard=tensorboard)
        trained.append((net, fold))
    if todo and progress is not None:
        progress(Progress(len(trained), len(todo), time.perf_counter() - t0, None))
    return TrainReport(trained, reused, mismatched)


def fit_missing_baselines(workdir, corpus, split: str, folds: Sequence[int], *, n_folds: int = N_FOLDS) -> list[int]:
    """Fit `mgc_jax.eval.baseline` on every fold without a finished baseline run, on exactly the nets' split
    (`Corpus.split`, the same split file), into `workdir.run_dir(corpus, split, BASELINE, fold)`.

    corpus: a `Corpus` or `LazyCorpus` (prepared only when a fold needs fitting). Returns the folds fitted.
    With several processes process 0 fits and the others wait for it.
    """
    corpus = LazyCorpus.of(corpus)
    dirs = run_dirs(workdir, corpus.name, split, (BASELINE,), folds, n_folds=n_folds)
    todo = [fold for (_, fold), d in dirs.items() if not is_finished(d)]
    if not todo:
        return []

    c = corpus.get()
    if distributed.is_primary():
        for fold in todo:
            res = baseline.fit_and_evaluate(c, c.split(workdir, split, fold, n_folds=n_folds),
                                            run_dir=dirs[(BASELINE, fold)], classes=c.classes)
            logging.info("baseline fold %d (%s split): test track accuracy %.3f (%d tracks)", fold, split,
                         res.test_accuracy, res.n_test)
    if distributed.process_count() > 1:
        distributed.barrier("mgc_jax.eval.crossval.baseline")
    return todo


class LazyCorpus:
    """A corpus name now, the `Corpus` (from `prepare()`, called at most once) only when training needs it."""

    def __init__(self, name: str, prepare):
        self.name, self._prepare, self._corpus = name, prepare, None

    @classmethod
    def of(cls, corpus) -> "LazyCorpus":
        return corpus if isinstance(corpus, cls) else cls(corpus.name, lambda: corpus)

    @property
    def prepared(self) -> bool:
        return self._corpus is not None

    def get(self):
        if self._corpus is None:
            self._corpus = self._prepare()
            if self._corpus.name != self.name:
                raise DataError(f"the corpus prepared is named {self._corpus.name!r}, expected {self.name!r}")
        return self._corpus


def _config_mismatch(run_dir: pathlib.Path, cfg) -> str:
    try:
        config = rundir.read_config(run_dir)
        saved = {"train": config["train"], **{k: config[k] for k in ("dsp_code",) if k in config}}
    except (DataError, KeyError, TypeError) as e:
        return f"{rundir.CONFIG} unreadable ({e})"
    # The head's size is the corpus's class count (train.run sets it); the rest must be the request's. A run
    # trained on maps of other dsp code is named too: its results are of maps the code no longer makes.
    return rundir.config_mismatch(saved, {"train": cfg.to_dict(), "dsp_code": mgc_jax.config.dsp_code_hash()},
                                  ignore=("train.model.num_classes",))


# ---------------------------------------------------------------------------------------- evaluation


@dataclasses.dataclass(frozen=True)
class SystemResult:
    """One system's decisions on every test track of the folds it covers, and their metrics."""

    name: str  # a SYSTEMS entry
    track_ids: tuple[str, ...]  # fold by fold, each fold in its run's track order
    folds: np.ndarray  # int [N] fold of each track
    labels: np.ndarray  # int [N] true genre
    predictions: np.ndarray  # int [N] decided genre
    summary: evaluate.Summary
    confusion: np.ndarray  # int64 [C, C] counts, rows = true genre

    @property
    def label(self) -> str:
        return label(self.name)


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """Everything Table 2, Table 1 and results.json report for one corpus and split."""

    corpus: str
    split: str
    genres: tuple[str, ...]  # the corpus's class names, label order
    systems: Mapping[str, SystemResult]  # in SYSTEMS order, only the systems that could be computed
    boot: evaluate.Bootstrap
    runs: Mapping[str, Mapping[int, str]] = dataclasses.field(default_factory=dict)  # net -> fold -> run dir
    notes: tuple[str, ...] = ()  # caveats printed under the tables (e.g. reused runs of another config)
    kind: str = "gtzan"  # the corpus kind (sources.KINDS): the paper's numbers are shown for "gtzan" only
    n_folds: int = N_FOLDS  # folds of the split (stratified / artist)

    @property
    def folds(self) -> tuple[int, ...]:
        return tuple(sorted({int(f) for s in self.systems.values() for f in s.folds}))


def fold_decisions(by_net: Mapping[str, FoldProbs]) -> dict[str, np.ndarray]:
    """Decisions int [N] per system for one fold: a vote per net (and the baseline's argmax), FUSION1/2 when
    stft and music are both there, FUSION2+baseline when the baseline is too.

    The runs of one fold must hold the same test tracks in the same order (they come from one split file);
    the nets' clip counts must agree (the baseline has one row per track).
    """
    out = {}
    first_net, first = next(iter(by_net.items()))
    nets = [n for n in by_net if n != BASELINE]
    for net, tp in by_net.items():
        if tp.track_ids != first.track_ids or not np.array_equal(tp.labels, first.labels) or tp.genres != first.genres:
            raise DataError(f"the {net} run of this fold tested other tracks (or labels/classes) than the "
                            f"{first_net} run: were they trained on different split files?")
        if net != BASELINE and [len(p) for p in tp.probs] != [len(p) for p in by_net[nets[0]].probs]:
            raise DataError(f"the {net} run of this fold has other clip counts than the {nets[0]} run: "
                            "were they trained on different feature caches?")
        out[NET_SYSTEM[net]] = np.array([evaluate.majority_vote(p) for p in tp.probs], np.int64)
    if "stft" in by_net and "music" in by_net:
        a, b = by_net["stft"].probs, by_net["music"].probs
        for name, rule in FUSION_SYSTEMS.items():
            out[name] = np.array([rule(pa, pb) for pa, pb in zip(a, b)], np.int64)
        if BASELINE in by_net:
            q = [p.mean(axis=0) for p in by_net[BASELINE].probs]
            out["FUSION2+baseline"] = np.array([evaluate.fusion2_track(pa, pb, qt) for pa, pb, qt in zip(a, b, q)],
                                               np.int64)
    return out


def evaluate_probs(probs: Mapping[str, Mapping[int, FoldProbs]], *, corpus: str, split: str, boot: evaluate.Bootstrap = evaluate.Bootstrap(), runs: Mapping | None = None,
                   notes: Sequence[str] = (), kind: str | None = None, n_folds: int = N_FOLDS) -> Evaluation:
    """Decide, score and bootstrap every system from {net: {fold: FoldProbs}} (net may be BASELINE).

    Fusion systems use the folds that have both an stft and a music run. kind: the corpus kind (default:
    "synthetic" for the synthetic corpus's name, else "gtzan": what runs were before other corpora).
    """
    folds = sorted({f for by_fold in probs.values() for f in by_fold})
    if not folds:
        raise DataError(f"no finished run to evaluate for corpus {corpus!r}, split {split!r}")
    parts: dict[str, list] = {}
    genres = None
    for fold in folds:
        by_net = {net: probs[net][fold] for net in (*NETS, BASELINE) if net in probs and fold in probs[net]}
        tp = next(iter(by_net.values()))
        if genres is None:
            genres = tp.genres
        elif tp.genres != genres:
            raise DataError(f"fold {fold} has classes {tp.genres}, fold {folds[0]} has {genres}")
        for system, pred in fold_decisions(by_net).items():
            parts.setdefault(system, []).append((fold, tp.track_ids, tp.labels, pred))
    systems = {}
    for name in SYSTEMS:
        if name not in parts:
            continue
        rows = parts[name]
        labels = np.concatenate([r[2] for r in rows]).astype(np.int64)
        pred = np.concatenate([r[3] for r in rows])
        fold_of = np.concatenate([np.full(len(r[1]), r[0]) for r in rows])
        correct = {r[0]: r[2] == r[3] for r in rows}
        systems[name] = SystemResult(
            name=name, track_ids=tuple(t for r in rows for t in r[1]), folds=fold_of, labels=labels, predictions=pred,
            summary=evaluate.fold_summary(correct, boot),
            confusion=evaluate.confusion_matrix(labels, pred, n_classes=len(genres)))
    runs = {net: {int(f): str(d) for f, d in by_fold.items()} for net, by_fold in (runs or {}).items()}
    if kind is None:
        kind = rundir.run_corpus_kind({"corpus": corpus})
    return Evaluation(corpus, split, tuple(genres), systems, boot, runs, tuple(notes), kind, n_folds)


def evaluate_runs(workdir, corpus: str, split: str, nets: Sequence[str], folds: Sequence[int], *,
                  boot: evaluate.Bootstrap = evaluate.Bootstrap(), notes: Sequence[str] = (),
                  n_folds: int = N_FOLDS, baseline: bool = False) -> Evaluation:
    """`evaluate_probs` over the saved runs of (nets x folds), and of the baseline's folds if `baseline`;
    DataError naming any unfinished run. The corpus kind is read from the nets' config.json."""
    nets = (*nets, BASELINE) if baseline else tuple(nets)
    probs = collect(workdir, corpus, split, nets, folds, n_folds=n_folds)
    dirs = run_dirs(workdir, corpus, split, nets, folds, n_folds=n_folds)
    runs: dict = {}
    for (net, fold), d in dirs.items():
        runs.setdefault(net, {})[fold] = d
    kinds = {rundir.run_corpus_kind(_run_config(d, corpus)) for (n, _), d in dirs.items() if n != BASELINE}
    if len(kinds) > 1:
        raise DataError(f"the runs of corpus {corpus!r} record different corpus kinds {sorted(kinds)}")
    return evaluate_probs(probs, corpus=corpus, split=split, boot=boot, runs=runs,
                          notes=notes, kind=kinds.pop() if kinds else None, n_folds=n_folds)


def _run_config(run_dir: pathlib.Path, corpus: str) -> dict:
    """A run's config.json ({} for a run that has none: hand-made runs), its corpus name defaulting to `corpus`."""
    config = rundir.read_config(run_dir) if (run_dir / rundir.CONFIG).is_file() else {}
    return {"corpus": corpus, **config}


class CrossvalResult(NamedTuple):
    evaluation: Evaluation
    training: TrainReport
    written: dict  # file name -> path of every report file


def run(base_cfg, workdir, corpus, *, nets: Sequence[str], folds: Sequence[int], boot: evaluate.Bootstrap = evaluate.Bootstrap(), progress: Callable[[Progress], None] | None = None,
        baseline: bool = False, tensorboard: bool = True) -> CrossvalResult:
    """Train what is missing, evaluate every system, write the reports into `workdir.results_dir(corpus, split)`.

    base_cfg: `mgc_jax.config.TrainConfig` of every run (net and fold replaced); corpus: a `Corpus` or a
    `LazyCorpus`; boot: the intervals' bootstrap (`mgc_jax.evaluate.Bootstrap`); progress: see
    `train_missing`; baseline: also fit the MFCC+SVM baseline on the same folds (`fit_missing_baselines`)
    and report it; tensorboard: the runs write TensorBoard events, and the tables go into the results
    directory's as text summaries (`summaries.write_tables`). DataError when the split lacks one of `folds`
    (filtered and manifest: fold 0 only).
    """
    corpus = LazyCorpus.of(corpus)
    split, n_folds = base_cfg.split, base_cfg.n_folds
    try:
        check_folds(split, folds, n_folds)
    except ConfigError as e:
        raise DataError(str(e)) from None
    training = train_missing(base_cfg, workdir, corpus, nets, folds, progress=progress, tensorboard=tensorboard)
    if baseline:
        fit_missing_baselines(workdir, corpus, split, folds, n_folds=n_folds)
    notes = [f"{net} fold {fold} was reused from a run with another config ({diff})"
             for net, fold, diff in training.mismatched]
    ev = evaluate_runs(workdir, corpus.name, split, nets, folds, boot=boot,
                       notes=notes, n_folds=n_folds, baseline=baseline)
    written = reports.write_reports(ev, workdir.results_dir(corpus.name, split, n_folds=n_folds))
    summaries.write_tables(workdir.results_dir(corpus.name, split, n_folds=n_folds),
                           {"crossval/table2": written["table2.md"].read_text(),
                            "crossval/table1": written["table1.md"].read_text()},
                           enabled=tensorboard and distributed.is_primary())
    return CrossvalResult(ev, training, written)
