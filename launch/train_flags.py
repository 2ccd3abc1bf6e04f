"""The training flags shared by `launch.train` and `launch.crossval`, made from the config fields.

Each flag is a `TrainConfig` / `ModelConfig` field of the same name and takes its default from the field
(`mgc_jax.config`), so a default lives once and a config error ("TrainConfig.fold=12: ...") names the flag.
Only the help text is written here.
"""
from __future__ import annotations

import re

from absl import app, flags

from launch import common
from mgc_jax.config import PAPER_HPARAMS, PAPER_MODEL, ModelConfig, TrainConfig, train_fields

# field -> help; TrainConfig fields first, then ModelConfig ones (`train_config` sorts them out).
HELP = {
    "split": "stratified | artist (Sturm's index for GTZAN, a manifest's artist column) | manifest (a manifest's "
             "split column: one fixed split, fold 0) | filtered (fault-filtered GTZAN, fold 0).",
    "n_folds": "Folds of a stratified or artist split (>= 3; each class needs n_folds tracks). Not 10: the runs "
               "go to runs/<corpus>/<split>-<n>folds/.",
    "epochs": "Training epochs of each run (paper: 40; --paper sets it).",
    "batch_size": "Clips per training step over all devices (paper: 20).",
    "learning_rate": "Optimizer learning rate of epoch 1.",
    "lr_decay": "Per-epoch learning-rate factor: epoch e uses learning_rate * lr_decay**(e-1) "
                "(1.0 = constant; the paper names no schedule; 0.9 was the synthetic-corpus choice).",
    "lr_schedule": "exponential (learning_rate * lr_decay**(e-1)) | cosine (from learning_rate at epoch 1 down to "
                   "~0 at the last: learning_rate * (1 + cos(pi * (e-1) / epochs)) / 2).",
    "optimizer": "adam | sgd (momentum 0.9).",
    "seed": "Seed of model init, batch order and dropout.",
    "standardize": "Standardise each feature with the training fold's mean/std (paper: raw units, "
                   "--nostandardize).",
    "stft_transform": "STFT map before standardisation: log1p | db | none (paper: linear magnitude).",
    "select": "Epoch that is tested and served: last | best_valid (paper: best validation accuracy).",
    "features": "cached (maps from the feature cache) | online (computed from the audio inside the training step).",
    "augment": "Comma-separated audio augmentations of --features=online: gain, noise, shift (mgc_jax.data.augment).",
    "crops": "Training clip starts: random (each clip drawn in its own equal stretch of the track, anew every "
             "epoch) | grid (windows every 64 frames, evenly spread over the track; the paper's for 30 s tracks). "
             "Default: the net's (net_MUSIC random, net_STFT and early grid).",
    "train_clips": "Training clips per track and epoch at most, spread over the whole track (random crops: drawn "
                   "anew each epoch), so an epoch costs the same for 30 s or 2 h tracks (paper: 18 of a 30 s track).",
    "eval_clips": "Validation/test clips per track at most: every 3 s window (hop 1.5 s) of the whole track, evenly "
                  "spread beyond this many (paper: 18, the grid of a 30 s track).",
    "mixup": "Mixup of training clip pairs with Beta(mixup, mixup) weights (0 = off, the paper). Default: the net's "
             "value (net_MUSIC 0.4; net_STFT and early 0: measured on real music, benchmarks/real_music.md).",
    "k1": "Filters per conv layer (docs/features.md D10: 256; 128 the alternative).",
    "align": "Shortcut alignment: center (3+3 zero pad) | start | end | same.",
    "relu_after_add": "ReLU after the residual add.",
    "stft_bands": "Mel bands net_STFT averages its 513 bins into before conv1 (0 = none, the paper). 96: as "
                  "accurate or better on real music and faster to train (benchmarks/real_music.md).",
    "conv_impl": "conv | matmul (same maths; the default is the faster, see benchmarks).",
}
_DEFINE = {bool: flags.DEFINE_bool, int: flags.DEFINE_integer, float: flags.DEFINE_float, str: flags.DEFINE_string,
           tuple: lambda name, default, help: flags.DEFINE_list(name, list(default), help)}
_TRAIN_FIELDS = {f for f in TrainConfig.__dataclass_fields__}
_FIELDS = train_fields()


_NONE_TYPES = {"mixup": float, "crops": str}  # fields whose default None means "the net's value"


def _define(name: str):
    default = _FIELDS[name].default
    return _DEFINE[_NONE_TYPES[name] if default is None else type(default)](name, default, HELP[name])


FLAGS = {name: _define(name) for name in HELP}  # field name -> FlagHolder
SPLIT = FLAGS["split"]
PAPER = flags.DEFINE_bool("paper", False, "The paper's settings where the defaults differ: --nostandardize "
                          "--stft_transform=none --select=best_valid --epochs=40 --crops=grid --mixup=0 "
                          "--train_clips=18 --eval_clips=18 --stft_bands=0 "
                          "(a flag given explicitly wins).")
MAX_TRACKS_PER_GENRE = 100_000
TRACKS_PER_GENRE = flags.DEFINE_integer("tracks_per_genre", None,
                                        "Synthetic corpus only: tracks per genre when it is first made.")


def train_config(net: str, fold: int) -> TrainConfig:
    """`TrainConfig` from the flags for one (net, fold); a bad value becomes a one-line usage error."""
    train = {n: f.value for n, f in FLAGS.items() if n in _TRAIN_FIELDS}
    if PAPER.value:
        train.update({n: v for n, v in PAPER_HPARAMS.items() if not FLAGS[n].present})
    model = {n: f.value for n, f in FLAGS.items() if n not in _TRAIN_FIELDS}
    if PAPER.value:
        model.update({n: v for n, v in PAPER_MODEL.items() if not FLAGS[n].present})
    try:
        return TrainConfig(net=net, fold=fold, **train, model=ModelConfig(**model))
    except ValueError as e:
        # "TrainConfig.fold=12: expected 0..9" -> "--fold=12: expected 0..9" (config fields are the flag names)
        raise app.UsageError(re.sub(r"\b(?:TrainConfig|ModelConfig)\.(\w+)=", r"--\1=", str(e))) from e


def check_tracks_per_genre() -> None:
    """--tracks_per_genre sizes the synthetic corpus only, and is >= 1 (0 is a value, not "unset")."""
    n = TRACKS_PER_GENRE.value
    if n is not None and n < 1:
        raise app.UsageError(f"--tracks_per_genre={n}: must be >= 1 (leave it out for the default size)")
    if n is not None and n > MAX_TRACKS_PER_GENRE:
        raise app.UsageError(f"--tracks_per_genre={n}: must be <= {MAX_TRACKS_PER_GENRE} (track ids have five digits)")
    if n is not None and common.DATA_DIR.value is not None:
        raise app.UsageError("--tracks_per_genre only applies to the synthetic corpus (no --data_dir)")
