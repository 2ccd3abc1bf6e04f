"""The flags of the commands that evaluate saved runs (`launch.crossval`, `launch.fuse`): folds, bootstrap and
the baseline.
"""
from __future__ import annotations

from absl import app, flags

from mgc_jax.config import (
    N_FOLDS,
    N_FOLDS_RULE,
    ONE_FOLD_SPLITS,
    SPLITS,
    check_folds,
    n_folds_ok,
    split_folds,
)

FOLDS = flags.DEFINE_string("folds", None, "Folds: N, N-M or a comma list (default: every fold of the split, "
                                           "0..n_folds-1; the filtered and manifest splits have only fold 0).")
BASELINE = flags.DEFINE_bool("baseline", True, "Also fit the MFCC+SVM baseline (mgc_jax.eval.baseline, seconds per "
                                               "fold) on the same folds and report it beside the nets.")
N_BOOT = flags.DEFINE_integer("n_boot", 1000, "Bootstrap resamples for the 95 % intervals.")
BOOT_SEED = flags.DEFINE_integer("bootstrap_seed", 0, "Seed of the bootstrap resampling.")


def folds(split: str, spec: str | None = None, *, flag: str = "folds", n_folds: int = N_FOLDS) -> tuple[int, ...]:
    """The folds named by `spec` (default --folds; none: every fold of `split`), checked against the split;
    a bad value is a usage error naming `--<flag>`."""
    from mgc_jax.eval.systems import parse_folds

    if split not in SPLITS:
        raise app.UsageError(f"--split={split!r}: expected one of {', '.join(SPLITS)}")
    spec = FOLDS.value if spec is None else spec
    if split in ONE_FOLD_SPLITS and n_folds != N_FOLDS:
        raise app.UsageError(f"--n_folds={n_folds}: the {split} split has one fixed train/valid/test split")
    if not n_folds_ok(n_folds):
        raise app.UsageError(f"--n_folds={n_folds}: {N_FOLDS_RULE}")
    if spec is None:
        return split_folds(split, n_folds)
    try:
        return check_folds(split, parse_folds(spec), n_folds)
    except ValueError as e:
        raise app.UsageError(f"--{flag}={spec}: {e}") from e


MAX_N_BOOT = 1_000_000  # each resample keeps one float64 mean: more would hold GBs for no visible change


def bootstrap():
    """The `mgc_jax.evaluate.Bootstrap` of --n_boot (1..MAX_N_BOOT) and --bootstrap_seed (>= 0: numpy's generators
    take no negative seed); a bad value is a usage error."""
    from mgc_jax.evaluate import Bootstrap

    if not 1 <= N_BOOT.value <= MAX_N_BOOT:
        raise app.UsageError(f"--n_boot={N_BOOT.value}: must be in 1..{MAX_N_BOOT}")
    if not 0 <= BOOT_SEED.value <= 2**63 - 1:
        raise app.UsageError(f"--bootstrap_seed={BOOT_SEED.value}: must be in 0..{2**63 - 1}")
    return Bootstrap(n_boot=N_BOOT.value, seed=BOOT_SEED.value)
