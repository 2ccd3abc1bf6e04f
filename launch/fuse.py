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

from launch import common, eval_flags
from mgc_jax.config import TrainConfig

flags.adopt_module_key_flags(eval_flags)  # --helpshort lists --folds, --n_boot, --bootstrap_seed too
FOLD = flags.DEFINE_integer("fold", None, "One fold (exclusive with --folds).")
SPLIT = flags.DEFINE_string("split", TrainConfig.__dataclass_fields__["split"].default,
                            "stratified | filtered | artist.")
JSON = flags.DEFINE_bool("json", False, "Print JSON instead of a Markdown table.")

FUSIONS = ("FUSION1", "FUSION2")


def folds() -> tuple[int, ...]:
    if FOLD.value is not None and eval_flags.FOLDS.value is not None:
        raise app.UsageError("give --fold or --folds, not both")
    if FOLD.value is None:
        return eval_flags.folds(SPLIT.value)
    if FOLD.value < 0:
        raise app.UsageError(f"--fold={FOLD.value}: must be >= 0")
    return eval_flags.folds(SPLIT.value, str(FOLD.value), flag="fold")


def main(argv):
    common.no_extra_args(argv)
    fold_list = folds()
    eval_flags.check_n_boot()
    from mgc_jax import crossval, reports

    workdir = common.workdir()
    name = crossval.corpus_name(common.DATA_DIR.value)
    ev = crossval.evaluate_runs(workdir, name, SPLIT.value, ("stft", "music"), fold_list,
                                n_boot=eval_flags.N_BOOT.value, seed=eval_flags.BOOT_SEED.value)
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
