"""Train one net on one fold: `python -m launch.train --net=music|stft|early --fold=K [...]`.

Kept thin on purpose: flags are mapped onto `mgc_jax.train.loop.TrainConfig` and the work is one call,
`mgc_jax.train.loop.run(cfg, workdir, corpus)`. Without --data_dir the built-in synthetic corpus is used
(generated and extracted under --workdir on first use). Running the same command again resumes from the
last finished epoch (or, for a finished run, only re-classifies the test tracks). Prints where the
checkpoints, metrics and test probabilities are.

    python -m launch.train --net=music --fold=3                 # README's main job
    python -m launch.train --net=stft --fold=0 --data_dir=/data/gtzan --workdir=/scratch/mgc
    python -m launch.train --net=early --fold=0 --standardize --epochs=20
    python -m launch.train --net=music --data_dir="my music" --n_folds=5     # <label>/**/<file> folders
    python -m launch.train --net=stft --data_dir=corpus.csv --split=manifest # path,label[,artist,split,track_id]

Any corpus: the classes are the corpus's own (recorded in the run's config.json, test_probs.npz and
checkpoints), so `launch.predict` names them.
"""
from __future__ import annotations

from absl import app, flags, logging

from launch import common, train_flags
from launch.shared_flags import TENSORBOARD

NET = flags.DEFINE_string("net", None, "Which net: stft (net_STFT), music (net_MUSIC) or early (early fusion).")
FOLD = flags.DEFINE_integer("fold", 0, "Fold 0..n_folds-1 (0 for --split=filtered and --split=manifest).")
flags.adopt_module_key_flags(train_flags)  # --helpshort lists the shared training flags too


def train_config():
    """TrainConfig from the flags; a bad value becomes a one-line usage error."""
    if NET.value is None:
        raise app.UsageError("--net is required: stft, music or early")
    return train_flags.train_config(NET.value, FOLD.value)


def main(argv):
    common.no_extra_args(argv)
    cfg = train_config()
    train_flags.check_tracks_per_genre()
    import jax

    from mgc_jax import distributed
    from mgc_jax.data.corpus import prepare_corpus
    from mgc_jax.train import loop as train

    distributed.check_backend()
    logging.info("devices: %s", jax.devices())
    workdir = common.workdir()
    corpus = prepare_corpus(common.DATA_DIR.value, workdir, tracks_per_genre=train_flags.TRACKS_PER_GENRE.value,
                            split=cfg.split, n_folds=cfg.n_folds, echo=common.say)
    logging.info("config: %s", cfg.for_classes(len(corpus.classes)))  # the head train.run builds
    result = train.run(cfg, workdir, corpus, tensorboard=TENSORBOARD.value)
    print(f"{cfg.net} fold {cfg.fold} ({cfg.split}, corpus {corpus.name}): best epoch {result.best_epoch}/"
          f"{result.epochs}, valid track accuracy {result.valid_accuracy:.3f}, "
          f"test track accuracy {result.test_accuracy:.3f} (clips {result.test_clip_accuracy:.3f})")
    print(f"classes:            {', '.join(corpus.classes)} ({corpus.kind} corpus, {len(corpus.tracks)} tracks)")
    print(f"run directory:      {result.run_dir} (config.json, result.json)")
    print(f"checkpoints:        {result.checkpoint_dir}")
    print(f"metrics:            {result.metrics_path}")
    print(f"test probabilities: {result.test_probs_path}")
    if TENSORBOARD.value:
        print(f"tensorboard:        tensorboard --logdir={result.run_dir}")


if __name__ == "__main__":
    logging.set_verbosity(logging.INFO)  # the per-epoch lines are the progress report
    common.run(main)
