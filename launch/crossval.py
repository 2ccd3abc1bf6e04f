"""Cross-validate and write the paper's tables: `python -m launch.crossval --nets=stft,music --folds=0-9`.

Trains every (net, fold) run that has no test_probs.npz yet (`mgc_jax.train.loop.run`; an interrupted run resumes
from its last checkpoint, a finished one is reused, so running the command again trains nothing), then
writes into `<workdir>/results/<corpus>/<split>/`:

    table2.md               net_STFT, net_MUSIC, FUSION1, FUSION2 (and early fusion with --nets=...,early), the
                            MFCC+SVM baseline and FUSION2+baseline (--nobaseline: without them): accuracy ± 95 %
                            bootstrap half-width, beside the paper's Table 2 for a GTZAN corpus
    table1.md               row-normalised confusion matrices (%), beside the paper's Table 1 for GTZAN
    results.json            every number, the decision per track, the run directories
    confusion_<system>.png
    events.out.tfevents.*   the two tables as TensorBoard text summaries (--notensorboard: none; each run's own
                            events are in its run directory)

    python -m launch.crossval --nets=stft,music --folds=0-9                       # synthetic corpus
    python -m launch.crossval --data_dir=/data/gtzan --nets=stft,music,early     # Table 2 on GTZAN
    python -m launch.crossval --data_dir=/data/gtzan --split=filtered            # the 290-track test set
    python -m launch.crossval --nets=stft,music --folds=0-1 --epochs=2 --k1=16   # a quick look
    python -m launch.crossval --data_dir="my music" --n_folds=5                   # 5 tracks per class suffice
    python -m launch.crossval --data_dir=corpus.csv --split=manifest             # the manifest's own split

With --split=filtered or --split=manifest there are no folds: the single train/valid/test split is "fold 0".
The baseline (`mgc_jax.eval.baseline`) is fitted on exactly the nets' folds, in runs/<corpus>/<split>/baseline/.
"""
from __future__ import annotations

from absl import app, flags, logging

from launch import common, eval_flags, train_flags
from launch.shared_flags import TENSORBOARD

flags.adopt_module_key_flags(train_flags)  # --helpshort lists the shared training and evaluation flags too
flags.adopt_module_key_flags(eval_flags)
NETS = flags.DEFINE_string("nets", "stft,music", "Comma list of nets: stft, music, early (early fusion).")


def nets() -> tuple[str, ...]:
    from mgc_jax.eval.crossval import parse_nets

    try:
        return parse_nets(NETS.value)
    except ValueError as e:
        raise app.UsageError(f"--nets={NETS.value}: {e}") from e


def print_progress(p) -> None:
    """One line per run to train (run i/N, time so far, ETA from the mean run time) and one at the end."""
    if p.run is None:
        print(f"trained {p.total} runs in {_fmt_s(p.elapsed_s)}", flush=True)
        return
    eta = "" if p.eta_s is None else f", ETA {_fmt_s(p.eta_s)}"
    print(f"run {p.done + 1}/{p.total}: {p.run[0]} fold {p.run[1]} ({_fmt_s(p.elapsed_s)} so far{eta})", flush=True)


def _fmt_s(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m // 60}h{m % 60:02d}m" if m >= 60 else f"{m}m{s:02d}s"


def main(argv):
    common.no_extra_args(argv)
    fold_list = eval_flags.folds(train_flags.SPLIT.value, n_folds=train_flags.FLAGS["n_folds"].value)
    net_list = nets()
    eval_flags.bootstrap()  # refuses a bad --n_boot before any work
    cfg = train_flags.train_config(net_list[0], 0)  # net and fold are set per run
    train_flags.check_tracks_per_genre()
    from mgc_jax.data import sources
    from mgc_jax.eval import crossval

    workdir = common.workdir()
    name = sources.corpus_name(common.DATA_DIR.value)

    def prepare():
        from mgc_jax.data.corpus import prepare_corpus

        return prepare_corpus(common.DATA_DIR.value, workdir, tracks_per_genre=train_flags.TRACKS_PER_GENRE.value,
                              split=cfg.split, n_folds=cfg.n_folds, echo=common.say)

    result = crossval.run(cfg, workdir, crossval.LazyCorpus(name, prepare), nets=net_list, folds=fold_list,
                          boot=eval_flags.bootstrap(), progress=print_progress,
                          baseline=eval_flags.BASELINE.value, tensorboard=TENSORBOARD.value)
    t = result.training
    print(f"corpus {name} ({len(result.evaluation.genres)} classes: {', '.join(result.evaluation.genres)})")
    print(f"{cfg.split} split, nets {','.join(net_list)}, folds {','.join(map(str, fold_list))}: "
          f"trained {len(t.trained)} runs, reused {len(t.reused)} finished runs")
    for net, fold, diff in t.mismatched:
        print(f"warning: reused {net} fold {fold}, trained with another config ({diff})")
    print()
    print(result.written["table2.md"].read_text())
    for path in result.written.values():
        print(f"wrote {path}")


if __name__ == "__main__":
    logging.set_verbosity(logging.INFO)  # train.run's per-epoch lines are the progress report
    common.run(main)
