"""Late fusion of saved runs: `python -m launch.fuse --fold=3` or `--folds=0-9`.

Reads the test_probs.npz of the net_STFT and net_MUSIC runs of the given folds (nothing is trained) and
prints the FUSION1 and FUSION2 rows of Table 2, ours beside the paper's (FEATURES_SPEC §3.4):

    FUSION1  mean of the 2 x clips probability rows of a track, argmax
    FUSION2  clip-wise mean of the two nets, argmax per clip, majority vote

    python -m launch.fuse --fold=3
    python -m launch.fuse --folds=0-9 --data_dir=/data/gtzan --json
    python -m launch.fuse --split=filtered --data_dir=/data/gtzan      # the 290-track test set

Run `launch.crossval` (or `launch.train` for both nets) first; a missing run is named in the error.
"""
from __future__ import annotations

import json

from absl import app, flags

from launch import common

FOLD = flags.DEFINE_integer("fold", None, "One fold (exclusive with --folds).")
FOLDS = flags.DEFINE_string("folds", None, "Folds: N, N-M or a comma list (default 0-9; 0 for --split=filtered).")
SPLIT = flags.DEFINE_string("split", "stratified", "stratified | filtered | artist.")
N_BOOT = flags.DEFINE_integer("n_boot", 1000, "Bootstrap resamples for the 95 % intervals.")
BOOT_SEED = flags.DEFINE_integer("bootstrap_seed", 0, "Seed of the bootstrap resampling.")
JSON = flags.DEFINE_bool("json", False, "Print JSON instead of a Markdown table.")

FUSIONS = ("FUSION1", "FUSION2")


def folds() -> tuple[int, ...]:
    from mgc_jax.crossval import parse_folds

    if FOLD.value is not None and FOLDS.value is not None:
        raise app.UsageError("give --fold or --folds, not both")
    if FOLD.value is not None:
        if FOLD.value < 0:
            raise app.UsageError(f"--fold={FOLD.value}: must be >= 0")
        out = (FOLD.value,)
    elif FOLDS.value is not None:
        try:
            out = parse_folds(FOLDS.value)
        except ValueError as e:
            raise app.UsageError(f"--folds={FOLDS.value}: {e}") from e
    else:
        out = (0,) if SPLIT.value == "filtered" else tuple(range(10))
    if SPLIT.value == "filtered" and out != (0,):
        raise app.UsageError("the filtered split has one train/valid/test split: fold 0")
    return out


def main(argv):
    common.no_extra_args(argv)
    fold_list = folds()
    if SPLIT.value not in ("stratified", "filtered", "artist"):
        raise app.UsageError(f"--split={SPLIT.value!r}: expected stratified, filtered or artist")
    if N_BOOT.value < 1:
        raise app.UsageError(f"--n_boot={N_BOOT.value}: must be >= 1")
    from mgc_jax import crossval, reports

    workdir = common.workdir()
    name = crossval.corpus_name(common.DATA_DIR.value)
    ev = crossval.evaluate_runs(workdir, name, SPLIT.value, ("stft", "music"), fold_list, n_boot=N_BOOT.value,
                                seed=BOOT_SEED.value)
    if JSON.value:
        full = reports.results_dict(ev)
        out = {k: full[k] for k in ("corpus", "split", "folds", "genres", "bootstrap", "n_tracks")}
        out["systems"] = {s: {k: v for k, v in full["systems"][s].items() if k != "predictions"} for s in FUSIONS}
        out["nets"] = {s: full["systems"][s]["accuracy"] for s in ("net_STFT", "net_MUSIC")}
        print(json.dumps(out, indent=1))
        return
    nets = ", ".join(f"{ev.systems[s].label} {100 * ev.systems[s].summary.pooled:.1f} %"
                     for s in ("net_STFT", "net_MUSIC"))
    print(f"corpus {name}, {SPLIT.value} split, folds {','.join(map(str, fold_list))}: "
          f"{ev.systems['FUSION1'].summary.n_tracks} test tracks (nets alone: {nets})")
    print()
    print(reports.accuracy_table(ev, FUSIONS), end="")


if __name__ == "__main__":
    common.run(main)
