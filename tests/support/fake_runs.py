"""Fake finished training runs for the evaluation tests: test_probs.npz files without training anything.

`fake_fold(...)` draws clip probabilities for one fold's test tracks (a seeded Dirichlet with extra weight
on the true genre, so a net is mostly right and the nets disagree on some tracks); `write_run` stores them
in a run directory with `mgc_jax.train.rundir`'s writers (the format training writes), plus a config.json.
"""
from __future__ import annotations

import contextlib
import os
import pathlib
import subprocess
import sys
from typing import NamedTuple

import numpy as np

from mgc_jax.evaluate import Bootstrap
from mgc_jax.train import rundir

GTZAN = ("blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock")


def fold_tracks(fold: int, per_genre: int = 2, genres=GTZAN) -> tuple[list[str], np.ndarray]:
    """Test track ids and labels of a fake fold: `per_genre` tracks of every genre, ids unique over folds."""
    ids = [f"{g}.{fold * per_genre + j:05d}" for g in genres for j in range(per_genre)]
    return ids, np.repeat(np.arange(len(genres)), per_genre).astype(np.int32)


def fake_clip_probs(labels: np.ndarray, *, seed: int, strength: float = 0.3, n_classes: int = 10,
                    clip_counts=(16, 17, 18)) -> list[np.ndarray]:
    """Per track float32 [n_clips_i, C]: Dirichlet(1) rows plus `strength` on the true class, renormalised."""
    rng = np.random.default_rng(seed)
    out = []
    for i, y in enumerate(labels):
        n = int(clip_counts[i % len(clip_counts)])  # a track has the same clip count in every net
        p = rng.dirichlet(np.ones(n_classes), size=n)
        p[:, y] += strength * rng.random(n)
        out.append((p / p.sum(1, keepdims=True)).astype(np.float32))
    return out


def write_run(run_dir, track_ids, labels, clip_probs, genres=GTZAN, *, train_cfg: dict | None = None) -> pathlib.Path:
    """run_dir/test_probs.npz (and config.json when train_cfg is given); returns the npz path."""
    run_dir = pathlib.Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / rundir.TEST_PROBS
    rundir.write_test_probs(path, track_ids, labels, clip_probs, genres)
    if train_cfg is not None:
        rundir.write_config(run_dir, {"train": train_cfg})
    return path


def write_fake_runs(workdir, corpus: str, split: str, nets, folds, *, per_genre: int = 2, genres=GTZAN,
                    train_cfg=None) -> dict:
    """Fake runs for every (net, fold); returns {net: {fold: (track_ids, labels, clip_probs)}}."""
    out: dict = {}
    for fold in folds:
        ids, labels = fold_tracks(fold, per_genre, genres)
        for k, net in enumerate(nets):
            probs = fake_clip_probs(labels, seed=1000 * fold + k, n_classes=len(genres))
            cfg = None if train_cfg is None else train_cfg(net, fold)
            write_run(workdir.run_dir(corpus, split, net, fold), ids, labels, probs, genres, train_cfg=cfg)
            out.setdefault(net, {})[fold] = (ids, labels, probs)
    return out


class TinyCrossval(NamedTuple):
    workdir: object  # mgc_jax.workdir.Workdir
    corpus: object  # mgc_jax.data.corpus.Corpus over an in-memory cache
    cfg: object  # the TrainConfig every run used
    first: object  # crossval.CrossvalResult of the call that trained the runs


_TINY: dict[str, TinyCrossval] = {}


def tiny_crossval(base: pathlib.Path) -> TinyCrossval:
    """`crossval.run` of a tiny net_STFT and net_MUSIC (k1=8, one epoch) on fold 0 of a 10-tracks-per-genre
    in-memory corpus with the real feature widths, made once per test session under `base` (the session's
    basetemp) so the crossval and inference tests share its two training runs. Treat its runs as read-only.
    """
    key = str(base)
    if key not in _TINY:
        from fake_data import FakeCache, tiny_config

        from dsp.config import FeatureConfig
        from mgc_jax.data.corpus import Corpus
        from mgc_jax.data.gtzan import GENRES
        from mgc_jax.data.track import Track
        from mgc_jax.eval import crossval
        from mgc_jax.workdir import Workdir

        root = pathlib.Path(base) / "tiny_crossval"
        tracks = tuple(Track(f"{g}.{i:05d}", g, root / f"{g}.{i:05d}.wav") for g in GENRES for i in range(10))
        labels = {t.track_id: GENRES.index(t.genre) for t in tracks}
        # 192-208 frames: 2 clips of 128 frames per track.
        cache = FakeCache(labels, n_frames=192, widths={"music": 8, "stft": 513}, offset=3.0)
        corpus = Corpus("fakecorpus", root, tracks, cache, FeatureConfig())
        wd = Workdir(root / "ws")
        cfg = tiny_config(epochs=1, batch_size=20, eval_batch_size=20)
        first = crossval.run(cfg, wd, corpus, nets=("stft", "music"), folds=(0,), boot=Bootstrap(n_boot=100))
        _TINY[key] = TinyCrossval(wd, corpus, cfg, first)
    return _TINY[key]


_HOLD = ("import sys, time\nfrom mgc_jax.train.runlock import run_lock\n"
         "with run_lock(sys.argv[1]):\n    print('locked', flush=True)\n    time.sleep(120)\n")


@contextlib.contextmanager
def held_lock(run_dir):
    """Another live process holding `run_dir`'s training lock (`runlock.run_lock`), as a second trainer would meet
    it; yields its Popen, killed (SIGKILL: its lock file stays) when the block ends."""
    run_dir = pathlib.Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    p = subprocess.Popen([sys.executable, "-c", _HOLD, str(run_dir)], stdout=subprocess.PIPE, text=True,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    try:
        assert p.stdout.readline().strip() == "locked"
        yield p
    finally:
        p.kill()
        p.wait()


def finished_runs(wd, corpus="gtzan", nets=("stft", "music"), folds=(0, 1), *, dsp_code=None):
    """Fake finished runs as a training leaves them for `launch.runs` (tests/test_runs.py): config.json (seed 3,
    4 epochs), metrics.jsonl (2 s per epoch), result.json (test accuracy 0.25 + 0.25 fold), test_probs.npz."""
    from mgc_jax.config import TrainConfig
    from mgc_jax.workdir import write_json

    write_fake_runs(wd, corpus, "stratified", nets, folds,
                    train_cfg=lambda net, fold: TrainConfig(net=net, fold=fold, epochs=4, seed=3,
                                                            n_folds=max(10, fold + 1)).to_dict())
    for net in nets:
        for fold in folds:
            d = wd.run_dir(corpus, "stratified", net, fold)
            if dsp_code is not None:
                write_json(d / rundir.CONFIG, {**rundir.read_config(d), "dsp_code": dsp_code})
            rundir.write_metrics(d, [{"epoch": e, "valid_track_acc": 0.1 * e, "epoch_s": 2.0} for e in (1, 2, 3, 4)])
            rundir.write_result(d, {"best_epoch": 4, "epochs": 4, "valid_track_acc": 0.4, "valid_clip_acc": 0.3,
                                    "test_track_acc": 0.25 + 0.25 * fold, "test_clip_acc": 0.2, "test_loss": 1.0})
