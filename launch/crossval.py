"""Cross-validate and write the paper's tables: `python -m launch.crossval --nets=stft,music --folds=0-9`.

Trains every (net, fold) run that has no test_probs.npz yet (`mgc_jax.train.run`; an interrupted run resumes
from its last checkpoint, a finished one is reused, so running the command again trains nothing), then
writes into `<workdir>/results/<corpus>/<split>/`:

    table2.md               net_STFT, net_MUSIC, FUSION1, FUSION2 (and early fusion with --nets=...,early):
                            accuracy ± 95 % bootstrap half-width beside the paper's Table 2
    table1.md               row-normalised confusion matrices (%) beside the paper's Table 1
    results.json            every number, the decision per track, the run directories
    confusion_<system>.png

    python -m launch.crossval --nets=stft,music --folds=0-9                       # synthetic corpus
    python -m launch.crossval --data_dir=/data/gtzan --nets=stft,music,early     # Table 2 on GTZAN
    python -m launch.crossval --data_dir=/data/gtzan --split=filtered            # the 290-track test set
    python -m launch.crossval --nets=stft,music --folds=0-1 --epochs=2 --k1=16   # a quick look

With --split=filtered there are no folds: the single fault-filtered train/valid/test split is "fold 0".
"""
from __future__ import annotations

import dataclasses
import time

from absl import app, flags, logging

from launch import common, train_flags

flags.adopt_module_key_flags(train_flags)  # --helpshort lists the shared training flags too
NETS = flags.DEFINE_string("nets", "stft,music", "Comma list of nets: stft, music, early (early fusion).")
FOLDS = flags.DEFINE_string("folds", "0-9", "Folds: N, N-M or a comma list (the filtered split has only fold 0).")
N_BOOT = flags.DEFINE_integer("n_boot", 1000, "Bootstrap resamples for the 95 % intervals.")
BOOT_SEED = flags.DEFINE_integer("bootstrap_seed", 0, "Seed of the bootstrap resampling.")


def folds() -> tuple[int, ...]:
    """--folds, with the filtered split's single fold 0 when --folds was not given."""
    from mgc_jax.crossval import parse_folds

    if train_flags.SPLIT.value == "filtered" and not flags.FLAGS["folds"].present:
        return (0,)
    try:
        out = parse_folds(FOLDS.value)
    except ValueError as e:
        raise app.UsageError(f"--folds={FOLDS.value}: {e}") from e
    if train_flags.SPLIT.value == "filtered" and out != (0,):
        raise app.UsageError(f"--folds={FOLDS.value}: the filtered split has one train/valid/test split (fold 0)")
    return out


def base_config():
    """TrainConfig of every run (net and fold are set per run); a bad value becomes a one-line usage error."""
    from mgc_jax.crossval import parse_nets

    try:
        nets = parse_nets(NETS.value)
    except ValueError as e:
        raise app.UsageError(f"--nets={NETS.value}: {e}") from e
    if N_BOOT.value < 1:
        raise app.UsageError(f"--n_boot={N_BOOT.value}: must be >= 1")
    cfg = train_flags.train_config(nets[0], 0)
    return cfg, nets


def train_with_progress(cfg, workdir, corpus, todo) -> None:
    """Train the missing (net, fold) runs one at a time, printing run i/N, the time so far and an ETA.

    The ETA is the mean time of the runs trained so far times the runs left (net_STFT and early-fusion runs
    take longer than net_MUSIC ones, so it is rough while the nets alternate).
    """
    from mgc_jax import crossval

    t0 = time.perf_counter()
    for i, (net, fold) in enumerate(todo):
        elapsed = time.perf_counter() - t0
        eta = f", ETA {_fmt_s(elapsed / i * (len(todo) - i))}" if i else ""
        print(f"run {i + 1}/{len(todo)}: {net} fold {fold} ({_fmt_s(elapsed)} so far{eta})", flush=True)
        crossval.train_missing(dataclasses.replace(cfg, net=net, fold=fold), workdir, corpus, [net], [fold])
    if todo:
        print(f"trained {len(todo)} runs in {_fmt_s(time.perf_counter() - t0)}", flush=True)


def _fmt_s(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m // 60}h{m % 60:02d}m" if m >= 60 else f"{m}m{s:02d}s"


def main(argv):
    common.no_extra_args(argv)
    fold_list = folds()
    cfg, nets = base_config()
    train_flags.check_tracks_per_genre()
    from mgc_jax import crossval

    workdir = common.workdir()
    name = crossval.corpus_name(common.DATA_DIR.value)

    def prepare():
        from mgc_jax.corpus import prepare_corpus

        return prepare_corpus(common.DATA_DIR.value, workdir, tracks_per_genre=train_flags.TRACKS_PER_GENRE.value)

    corpus = crossval.LazyCorpus(name, prepare)
    todo = [key for key, d in crossval.run_dirs(workdir, name, cfg.split, nets, fold_list).items()
            if not crossval.is_finished(d)]
    train_with_progress(cfg, workdir, corpus, todo)
    result = crossval.run(cfg, workdir, corpus, nets=nets, folds=fold_list, n_boot=N_BOOT.value,
                          seed=BOOT_SEED.value)
    t = result.training
    trained = len(t.trained) + len(todo)  # the runs trained above are "reused" by crossval.run
    print(f"corpus {name}, {cfg.split} split, nets {','.join(nets)}, folds {','.join(map(str, fold_list))}: "
          f"trained {trained} runs, reused {len(t.trained) + len(t.reused) - trained} finished runs")
    for net, fold, diff in t.mismatched:
        print(f"warning: reused {net} fold {fold}, trained with another config ({diff})")
    print()
    print(result.written["table2.md"].read_text())
    for path in result.written.values():
        print(f"wrote {path}")


if __name__ == "__main__":
    logging.set_verbosity(logging.INFO)  # train.run's per-epoch lines are the progress report
    common.run(main)
