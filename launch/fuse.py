"""Late fusion of saved runs: `python -m launch.fuse --fold=3` or `--folds=0-9`.

Reads the test_probs.npz of the net_STFT and net_MUSIC runs of the given folds (no net is trained) and
prints the FUSION1 and FUSION2 rows of Table 2 (docs/features.md §3.4), beside the paper's for a GTZAN corpus:

    FUSION1           mean of the 2 x clips probability rows of a track, argmax
    FUSION2           clip-wise mean of the two nets, argmax per clip, majority vote
    baseline          the MFCC+SVM baseline (`mgc_jax.eval.baseline`) on the same folds: fitted here (seconds,
                      from the cached features) where runs/<corpus>/<split>/baseline/fold<k> is missing
    FUSION2+baseline  FUSION2 with the baseline's track probabilities as a third, equal voice

    python -m launch.fuse --fold=3
    python -m launch.fuse --folds=0-9 --data_dir=/data/gtzan --json
    python -m launch.fuse --split=filtered --data_dir=/data/gtzan      # the 290-track test set
    python -m launch.fuse --data_dir=corpus.csv --split=manifest --json
    python -m launch.fuse --data_dir=/data/gtzan --nobaseline          # the saved nets alone, no corpus read

Run `launch.crossval` (or `launch.train` for both nets) first; a missing run is named in the error. The
JSON has `nets` (each net's accuracy), `systems` (the fusions and the baseline, with intervals and per-fold
accuracies) and `classes`. The table also goes into the results directory's TensorBoard events as a text
summary, "fuse/table" (--notensorboard: not).
"""
from __future__ import annotations

import json

from absl import app, flags

from launch import common, eval_flags
from launch.shared_flags import JSON, TENSORBOARD
from mgc_jax.config import TrainConfig

flags.adopt_module_key_flags(eval_flags)  # --helpshort lists --folds, --n_boot, --bootstrap_seed too
FOLD = flags.DEFINE_integer("fold", None, "One fold (exclusive with --folds).")
SPLIT = flags.DEFINE_string("split", TrainConfig.__dataclass_fields__["split"].default,
                            "stratified | artist | manifest | filtered (the split the runs were trained on).")
N_FOLDS = flags.DEFINE_integer("n_folds", TrainConfig.__dataclass_fields__["n_folds"].default,
                               "Folds of the stratified or artist split the runs were trained on.")

FUSIONS = ("FUSION1", "FUSION2")
NET_SYSTEMS = ("net_STFT", "net_MUSIC")
WITH_BASELINE = ("baseline", "FUSION2+baseline")


def folds() -> tuple[int, ...]:
    if FOLD.value is not None and eval_flags.FOLDS.value is not None:
        raise app.UsageError("give --fold or --folds, not both")
    if FOLD.value is None:
        return eval_flags.folds(SPLIT.value, n_folds=N_FOLDS.value)
    if FOLD.value < 0:
        raise app.UsageError(f"--fold={FOLD.value}: must be >= 0")
    return eval_flags.folds(SPLIT.value, str(FOLD.value), flag="fold", n_folds=N_FOLDS.value)


def fit_baselines(workdir, name: str, fold_list) -> None:
    """Fit the baseline on the folds that lack it; the corpus is prepared only then (features cached)."""
    from mgc_jax.errors import DataError
    from mgc_jax.eval import crossval

    def prepare():
        from mgc_jax.data.corpus import prepare_corpus

        try:
            return prepare_corpus(common.DATA_DIR.value, workdir, progress=False, split=SPLIT.value,
                                  n_folds=N_FOLDS.value)
        except DataError as e:
            raise DataError(f"{e} (the baseline is fitted from the corpus's features; --nobaseline fuses the "
                            "saved nets alone)") from e

    crossval.fit_missing_baselines(workdir, crossval.LazyCorpus(name, prepare), SPLIT.value, fold_list,
                                   n_folds=N_FOLDS.value)


def main(argv):
    common.no_extra_args(argv)
    fold_list = folds()
    eval_flags.bootstrap()  # refuses a bad --n_boot before any work
    from mgc_jax.data import sources
    from mgc_jax.eval import crossval, reports
    from mgc_jax.train import summaries

    workdir = common.workdir()
    name = sources.corpus_name(common.DATA_DIR.value)
    baseline = eval_flags.BASELINE.value
    crossval.collect(workdir, name, SPLIT.value, ("stft", "music"), fold_list, n_folds=N_FOLDS.value)  # nets first
    if baseline:
        fit_baselines(workdir, name, fold_list)
    ev = crossval.evaluate_runs(workdir, name, SPLIT.value, ("stft", "music"), fold_list, n_folds=N_FOLDS.value,
                                boot=eval_flags.bootstrap(), baseline=baseline)
    systems = FUSIONS + (WITH_BASELINE if baseline else ())
    summaries.write_tables(workdir.results_dir(name, SPLIT.value, n_folds=N_FOLDS.value),
                           {"fuse/table": reports.accuracy_table(ev, systems)}, enabled=TENSORBOARD.value)
    if JSON.value:
        full = reports.results_dict(ev)
        out = {k: full[k] for k in ("corpus", "corpus_kind", "split", "n_folds", "folds", "classes", "genres",
                                    "bootstrap", "n_tracks")}
        out["systems"] = {s: {k: v for k, v in full["systems"][s].items() if k != "predictions"} for s in systems}
        out["nets"] = {s: full["systems"][s]["accuracy"] for s in NET_SYSTEMS}
        print(json.dumps(out, indent=1))
        return
    nets = ", ".join(f"{ev.systems[s].label} {100 * ev.systems[s].summary.pooled:.1f} %" for s in NET_SYSTEMS)
    print(f"corpus {name}, {SPLIT.value} split, folds {','.join(map(str, fold_list))}: "
          f"{ev.systems['FUSION1'].summary.n_tracks} test tracks (nets alone: {nets})")
    print()
    print(reports.accuracy_table(ev, systems), end="")


if __name__ == "__main__":
    common.run(main)
