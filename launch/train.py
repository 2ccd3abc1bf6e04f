"""Train one net on one fold: `python -m launch.train --net=music|stft|early --fold=K [...]`.

Kept thin on purpose: flags are mapped onto `mgc_jax.train.TrainConfig` and the work is one call,
`mgc_jax.train.run(cfg, workdir, corpus)`. Without --data_dir the built-in synthetic corpus is used
(generated and extracted under --workdir on first use). Running the same command again resumes from the
last finished epoch (or, for a finished run, only re-classifies the test tracks). Prints where the
checkpoints, metrics and test probabilities are.

    python -m launch.train --net=music --fold=3                 # README's main job
    python -m launch.train --net=stft --fold=0 --data_dir=/data/gtzan --workdir=/scratch/mgc
    python -m launch.train --net=early --fold=0 --standardize --epochs=20
"""
from __future__ import annotations

import dataclasses
import re

from absl import app, flags, logging

from launch import common

NET = flags.DEFINE_string("net", None, "Which net: stft (net_STFT), music (net_MUSIC) or early (early fusion).")
FOLD = flags.DEFINE_integer("fold", 0, "Fold 0..9 (0 for --split=filtered).")
SPLIT = flags.DEFINE_string("split", "stratified", "stratified | filtered (fault-filtered GTZAN) | artist.")
EPOCHS = flags.DEFINE_integer("epochs", 40, "Training epochs (paper: 40).")
BATCH_SIZE = flags.DEFINE_integer("batch_size", 20, "Clips per training step (paper: 20).")
LEARNING_RATE = flags.DEFINE_float("learning_rate", 1e-3, "Optimizer learning rate.")
OPTIMIZER = flags.DEFINE_string("optimizer", "adam", "adam (default) | sgd (momentum 0.9).")
SEED = flags.DEFINE_integer("seed", 0, "Seed of model init, batch order and dropout.")
STANDARDIZE = flags.DEFINE_bool("standardize", False,
                                "Standardise each feature with the training fold's mean/std (paper: raw units).")
K1 = flags.DEFINE_integer("k1", 256, "Filters per conv layer (FEATURES_SPEC decision: 256; 128 the alternative).")
ALIGN = flags.DEFINE_string("align", "center", "Shortcut alignment: center (3+3 zero pad) | start | end | same.")
RELU_AFTER_ADD = flags.DEFINE_bool("relu_after_add", False, "ReLU after the residual add.")
CONV_IMPL = flags.DEFINE_string("conv_impl", None, "conv | matmul (same maths; default: the faster, see benchmarks).")
TRACKS_PER_GENRE = flags.DEFINE_integer("tracks_per_genre", None,
                                        "Synthetic corpus only: tracks per genre when it is first made.")


def train_config():
    """TrainConfig from the flags; a bad value becomes a one-line usage error."""
    from mgc_jax.models import ModelConfig
    from mgc_jax.train import TrainConfig

    if NET.value is None:
        raise app.UsageError("--net is required: stft, music or early")
    try:
        model = ModelConfig(k1=K1.value, align=ALIGN.value, relu_after_add=RELU_AFTER_ADD.value)
        if CONV_IMPL.value is not None:
            model = dataclasses.replace(model, conv_impl=CONV_IMPL.value)
        return TrainConfig(net=NET.value, fold=FOLD.value, split=SPLIT.value, epochs=EPOCHS.value,
                           batch_size=BATCH_SIZE.value, learning_rate=LEARNING_RATE.value, optimizer=OPTIMIZER.value,
                           seed=SEED.value, standardize=STANDARDIZE.value, model=model)
    except ValueError as e:
        # "TrainConfig.fold=12: expected 0..9" -> "--fold=12: expected 0..9" (config fields are the flag names)
        raise app.UsageError(re.sub(r"\b(?:TrainConfig|ModelConfig)\.(\w+)=", r"--\1=", str(e))) from e


def main(argv):
    common.no_extra_args(argv)
    cfg = train_config()
    if TRACKS_PER_GENRE.value is not None and common.DATA_DIR.value is not None:
        raise app.UsageError("--tracks_per_genre only applies to the synthetic corpus (no --data_dir)")
    import jax

    from mgc_jax import train
    from mgc_jax.corpus import prepare_corpus

    logging.info("devices: %s", jax.devices())
    logging.info("config: %s", cfg)
    workdir = common.workdir()
    corpus = prepare_corpus(common.DATA_DIR.value, workdir, tracks_per_genre=TRACKS_PER_GENRE.value)
    result = train.run(cfg, workdir, corpus)
    print(f"{cfg.net} fold {cfg.fold} ({cfg.split}, corpus {corpus.name}): best epoch {result.best_epoch}/"
          f"{result.epochs}, valid track accuracy {result.valid_accuracy:.3f}, "
          f"test track accuracy {result.test_accuracy:.3f} (clips {result.test_clip_accuracy:.3f})")
    print(f"run directory:      {result.run_dir} (config.json, result.json)")
    print(f"checkpoints:        {result.checkpoint_dir}")
    print(f"metrics:            {result.metrics_path}")
    print(f"test probabilities: {result.test_probs_path}")


if __name__ == "__main__":
    logging.set_verbosity(logging.INFO)  # the per-epoch lines are the progress report
    common.run(main)
