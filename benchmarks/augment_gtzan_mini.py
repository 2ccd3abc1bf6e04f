"""What audio augmentation does on real GTZAN tracks: net_MUSIC on ../shared/gtzan_mini, cached vs online+augment.

    python benchmarks/augment_gtzan_mini.py [--folds 0,1] [--epochs 8] [--augment gain,noise,shift]
                                            [--workdir /tmp/mgc_aug] [--out FILE]

gtzan_mini has 5 tracks per genre, too few for the 10-fold protocol, so each fold here is one of a 5-fold
stratified split (mgc_jax.data.folds.stratified_folds, n_folds=5: per genre 3 training, 1 validation and
1 test track). Per fold it trains the same net_MUSIC twice with the same seed: features="cached" (which equals
features="online" without augmentation, tests/test_online.py) and features="online" with --augment, and
records test track/clip accuracies and losses of the best-validation epoch. Every figure is artist-confounded
(see ../shared/gtzan_mini/README.md: the first tracks of most genres are one artist), and a fold tests on 10
tracks, so one track is 10 points. Writes JSON to benchmarks/results/ and prints a table.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--folds", default="0,1")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--augment", default="gain,noise,shift")
    p.add_argument("--data_dir", default=str(ROOT.parent / "shared" / "gtzan_mini"))
    p.add_argument("--workdir", default="/tmp/mgc_aug")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "augment_gtzan_mini.json"))
    args = p.parse_args()

    import numpy as np

    from mgc_jax.config import TrainConfig, feature_widths
    from mgc_jax.data.clips import ClipDataset
    from mgc_jax.data.corpus import prepare_corpus
    from mgc_jax.data.folds import stratified_folds
    from mgc_jax.train import loop as train
    from mgc_jax.train import online
    from mgc_jax.workdir import Workdir

    wd = Workdir(args.workdir)
    corpus = prepare_corpus(args.data_dir, wd, progress=False)
    splits = stratified_folds(corpus.tracks, 5, classes=corpus.classes)
    rows = []
    for fold in [int(f) for f in args.folds.split(",")]:
        split = splits[fold]
        ids = {"train": tuple(split.train), "valid": tuple(split.valid), "test": tuple(split.test)}
        labels = {k: corpus.labels(v) for k, v in ids.items()}
        for name, extra in (("cached", {}), ("online+" + args.augment, {"features": "online",
                                                                        "augment": tuple(args.augment.split(","))})):
            cfg = TrainConfig(net="music", fold=fold, epochs=args.epochs, **extra)
            sets = {k: ClipDataset(corpus.cache, list(v), labels[k], kinds=cfg.kinds) for k, v in ids.items()}
            if cfg.features == "online":
                sets["train"] = online.OnlineClips.from_corpus(corpus, ids["train"], labels["train"])
            data = train.FoldData(**sets, ids=ids, labels=labels, cache=corpus.cache, genres=corpus.classes)
            run_dir = wd.root / "runs" / f"fold{fold}-{name}"
            t0 = time.perf_counter()
            r = train.train_and_evaluate(cfg, run_dir, data, in_bins=feature_widths(corpus.cfg),
                                         run_info={"corpus": corpus.name, "features": corpus.cfg.to_dict(),
                                                   "split_digest": train.split_digest(ids), "n_folds": 5})
            metrics = [json.loads(line) for line in open(r.metrics_path)]
            result = json.loads((run_dir / "result.json").read_text())
            rows.append({"fold": fold, "condition": name, "best_epoch": r.best_epoch, "epochs": r.epochs,
                         "test_track_acc": r.test_accuracy, "test_clip_acc": r.test_clip_accuracy,
                         "test_loss": result["test_loss"], "valid_track_acc": r.valid_accuracy,
                         "final_train_loss": metrics[-1]["loss"], "clips_per_s": float(np.mean(
                             [m["clips_per_s"] for m in metrics])), "seconds": time.perf_counter() - t0})
            print(json.dumps(rows[-1]), flush=True)
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), "loadavg": os.getloadavg(), "rows": rows}, indent=1))
    print(f"\n{'fold':>4} {'condition':<28} {'test track':>10} {'test clip':>9} {'test loss':>9} {'best ep':>7}")
    for r in rows:
        print(f"{r['fold']:>4} {r['condition']:<28} {r['test_track_acc']:>10.3f} {r['test_clip_acc']:>9.3f} "
              f"{r['test_loss']:>9.3f} {r['best_epoch']:>7}")
    print("wrote", out)


if __name__ == "__main__":
    main()
