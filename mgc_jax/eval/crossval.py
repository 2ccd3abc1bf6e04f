"""Cross-validation: train the missing (net, fold) runs and the baseline's, then score every system of Table 2
(`mgc_jax.eval.systems`) and write the reports.
"""
from __future__ import annotations

import pathlib
import time
from collections.abc import Callable, Sequence
from typing import NamedTuple

from absl import logging

import mgc_jax.config
from mgc_jax import distributed, evaluate
from mgc_jax.config import N_FOLDS, check_folds
from mgc_jax.errors import ConfigError, DataError
from mgc_jax.eval import baseline, reports, systems
from mgc_jax.train import loop as train
from mgc_jax.train import rundir, summaries
from mgc_jax.train.rundir import is_finished


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
    dirs = systems.run_dirs(workdir, corpus.name, base_cfg.split, nets, folds, n_folds=base_cfg.n_folds)
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
    (`Corpus.split`, the same split file), into `workdir.run_dir(corpus, split, systems.BASELINE, fold)`.

    corpus: a `Corpus` or `LazyCorpus` (prepared only when a fold needs fitting). Returns the folds fitted.
    With several processes process 0 fits and the others wait for it.
    """
    corpus = LazyCorpus.of(corpus)
    dirs = systems.run_dirs(workdir, corpus.name, split, (systems.BASELINE,), folds, n_folds=n_folds)
    todo = [fold for (_, fold), d in dirs.items() if not is_finished(d)]
    if not todo:
        return []

    c = corpus.get()
    if distributed.is_primary():
        for fold in todo:
            res = baseline.fit_and_evaluate(c, c.split(workdir, split, fold, n_folds=n_folds),
                                            run_dir=dirs[(systems.BASELINE, fold)], classes=c.classes)
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














class CrossvalResult(NamedTuple):
    evaluation: systems.Evaluation
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
    ev = systems.evaluate_runs(workdir, corpus.name, split, nets, folds, boot=boot,
                       notes=notes, n_folds=n_folds, baseline=baseline)
    written = reports.write_reports(ev, workdir.results_dir(corpus.name, split, n_folds=n_folds))
    summaries.write_tables(workdir.results_dir(corpus.name, split, n_folds=n_folds),
                           {"crossval/table2": written["table2.md"].read_text(),
                            "crossval/table1": written["table1.md"].read_text()},
                           enabled=tensorboard and distributed.is_primary())
    return CrossvalResult(ev, training, written)
