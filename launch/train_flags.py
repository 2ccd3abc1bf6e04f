"""The training flags shared by `launch.train` and `launch.crossval`, and the TrainConfig they make.

One home, so both commands accept the same hyper-parameters with the same defaults and error messages. The
flag names are the `TrainConfig` / `ModelConfig` field names, which lets a config error name the flag.
"""
from __future__ import annotations

import dataclasses
import re

from absl import app, flags

from launch import common

SPLIT = flags.DEFINE_string("split", "stratified", "stratified | filtered (fault-filtered GTZAN) | artist.")
EPOCHS = flags.DEFINE_integer("epochs", 40, "Training epochs of each run (paper: 40).")
BATCH_SIZE = flags.DEFINE_integer("batch_size", 20, "Clips per training step over all devices (paper: 20).")
LEARNING_RATE = flags.DEFINE_float("learning_rate", 1e-3, "Optimizer learning rate of epoch 1.")
LR_DECAY = flags.DEFINE_float("lr_decay", 0.9, "Per-epoch learning-rate factor: epoch e uses "
                              "learning_rate * lr_decay**(e-1) (1.0 = constant; the paper names no schedule).")
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


def train_config(net: str, fold: int):
    """`TrainConfig` from the flags for one (net, fold); a bad value becomes a one-line usage error."""
    from mgc_jax.models import ModelConfig  # JAX from here on
    from mgc_jax.train import TrainConfig

    try:
        model = ModelConfig(k1=K1.value, align=ALIGN.value, relu_after_add=RELU_AFTER_ADD.value)
        if CONV_IMPL.value is not None:
            model = dataclasses.replace(model, conv_impl=CONV_IMPL.value)
        return TrainConfig(net=net, fold=fold, split=SPLIT.value, epochs=EPOCHS.value, batch_size=BATCH_SIZE.value,
                           learning_rate=LEARNING_RATE.value, lr_decay=LR_DECAY.value, optimizer=OPTIMIZER.value,
                           seed=SEED.value, standardize=STANDARDIZE.value, model=model)
    except ValueError as e:
        # "TrainConfig.fold=12: expected 0..9" -> "--fold=12: expected 0..9" (config fields are the flag names)
        raise app.UsageError(re.sub(r"\b(?:TrainConfig|ModelConfig)\.(\w+)=", r"--\1=", str(e))) from e


def check_tracks_per_genre() -> None:
    """--tracks_per_genre sizes the synthetic corpus only."""
    if TRACKS_PER_GENRE.value is not None and common.DATA_DIR.value is not None:
        raise app.UsageError("--tracks_per_genre only applies to the synthetic corpus (no --data_dir)")
