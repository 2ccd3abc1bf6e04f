"""Adversarial robustness of trained nets: `python -m launch.robustness --checkpoint=RUN [--checkpoint=RUN2]`.

Evaluates the run's own test tracks (its test_probs.npz; audio found through the feature cache of --workdir):
clean track accuracy, then for each --snr_db white-box PGD on the waveform (through the dsp features and the
net(s); FUSION2 of two nets) bounded per track by that SNR, and white Gaussian noise at exactly that SNR as a
control (mgc_jax.eval.robustness). --json prints {"clean_accuracy", "n_tracks", "attacks": [{"snr_db",
"pgd_accuracy", "noise_accuracy", "min_achieved_snr_db"}, ...]}.

    python -m launch.robustness --checkpoint=workspace/runs/synthetic/stratified/music/fold0 --snr_db=40,10
    python -m launch.robustness --checkpoint=.../stft/fold0 --checkpoint=.../music/fold0 --max_tracks=20 --json
"""
from __future__ import annotations

import json
import sys

from absl import app, flags

from launch import common
from launch.shared_flags import CHECKPOINT, JSON

SNR_DB = flags.DEFINE_list("snr_db", ["50", "40", "30", "20"], "Signal-to-perturbation ratios to attack at, dB.")
MAX_TRACKS = flags.DEFINE_integer("max_tracks", None, "Attack the first N test tracks only (default: all).")
STEPS = flags.DEFINE_integer("steps", 10, "PGD steps per track and SNR.")
NOISE_SEED = flags.DEFINE_integer("noise_seed", 0, "Seed of the white-noise control.")
MAX_STEPS = 10_000  # PGD steps per track and SNR; far past where the attack stops improving


def _snrs() -> list[float]:
    """--snr_db as floats, each finite and in robustness.SNR_DB_RANGE (a usage error naming the value)."""
    from mgc_jax.eval.robustness import check_snr_dbs

    try:
        snrs = [float(s) for s in SNR_DB.value]
    except ValueError as e:
        raise app.UsageError(f"--snr_db={','.join(SNR_DB.value)}: expected numbers in dB ({e})") from e
    try:
        check_snr_dbs(snrs)
    except ValueError as e:
        raise app.UsageError(f"--{e}") from e
    return snrs


def main(argv):
    common.no_extra_args(argv)
    if not CHECKPOINT.value or len(CHECKPOINT.value) > 2:
        raise app.UsageError("--checkpoint=RUN_DIR is required: once, or twice to attack the FUSION2 of two nets")
    if MAX_TRACKS.value is not None and MAX_TRACKS.value < 1:
        raise app.UsageError(f"--max_tracks={MAX_TRACKS.value}: must be >= 1")
    if not 1 <= STEPS.value <= MAX_STEPS:
        raise app.UsageError(f"--steps={STEPS.value}: must be in 1..{MAX_STEPS}")
    if not 0 <= NOISE_SEED.value <= 2**63 - 1:  # numpy's generators take no negative seed
        raise app.UsageError(f"--noise_seed={NOISE_SEED.value}: must be in 0..{2**63 - 1}")
    snrs = _snrs()
    from mgc_jax.eval import robustness
    from mgc_jax.serve.inference import Classifier

    clf = Classifier.from_checkpoint(*CHECKPOINT.value)
    tracks = robustness.run_test_tracks(CHECKPOINT.value, common.workdir(), max_tracks=MAX_TRACKS.value)
    progress = None if JSON.value else lambda i, n: print(f"\rtrack {i}/{n}", end="", file=sys.stderr, flush=True)
    result = robustness.attack_accuracies(clf.trained, clf.feature_cfg, tracks, snr_dbs=snrs, steps=STEPS.value,
                                          seed=NOISE_SEED.value, progress=progress)
    if JSON.value:
        print(json.dumps(result, indent=1))
        return
    print(f"\n{'+'.join(clf.nets)}: {result['n_tracks']} test tracks, clean accuracy {result['clean_accuracy']:.3f}")
    print("snr_db  pgd_acc  noise_acc  min_snr_db")
    for a in result["attacks"]:
        print(f"{a['snr_db']:6.1f}  {a['pgd_accuracy']:7.3f}  {a['noise_accuracy']:9.3f}  {a['min_achieved_snr_db']:10.4f}")


if __name__ == "__main__":
    common.run(main)
