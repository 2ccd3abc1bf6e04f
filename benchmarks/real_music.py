"""Training options measured on real music: the 50 GTZAN tracks of ../shared/gtzan_mini, 5-fold stratified CV.

Every fold tests on 10 tracks (one per genre), validates on the next block's 10 and trains on the other 30,
through the library API (`mgc_jax.data.corpus.prepare_corpus`, `mgc_jax.data.folds.stratified_folds(n_folds=5)`,
`mgc_jax.train.loop.fold_data` / `train_and_evaluate`, `mgc_jax.eval.baseline.fit_and_evaluate`). Each option set
(`PRESETS`) is a few `TrainConfig` overrides on the settings the presets were first measured against
(`BASE`: the paper's raw units with the synthetic-corpus schedule, the project's defaults before this
benchmark); "defaults" is today's TrainConfig defaults, decided from these figures. For every run it records the test-track
accuracy of the best-on-validation epoch (what `train.run` reports) and of the last epoch; the table pools the
50 test tracks of the 5 folds. FUSION2 pairs the named stft and music presets fold by fold.

Artist caveat (../shared/gtzan_mini/README.md): GTZAN's first tracks per genre are dominated by one artist each,
so every figure here is artist-confounded, an upper bound of the accuracy on unseen artists.

    python benchmarks/real_music.py --nets music --presets default,std [--folds 0-4] [--workdir /tmp/rm/work]
    python benchmarks/real_music.py --baseline            # the MFCC + music-feature RBF-SVM on the same folds
    python benchmarks/real_music.py --baseline_grid       # the SVM at fixed points of a C x gamma grid
    python benchmarks/real_music.py --synthetic --nets music --presets default,std --folds 0   # synthetic check
    python benchmarks/real_music.py --table [--fuse stft:std_log1p,music:std]   # markdown table of saved results

Results go to <workdir>/real_music/<corpus>/results.jsonl (one line per run; a run already recorded is
skipped), run directories to <workdir>/real_music/<corpus>/<preset>/<net>/fold<k>.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]
GTZAN_MINI = REPO.parent / "shared" / "gtzan_mini" / "genres"
N_FOLDS = 5

# name -> TrainConfig overrides (model.* for ModelConfig fields). A plain dict overrides the settings the first
# presets were measured against (BASE: the project's defaults then: raw units, linear STFT map, 0.9 decay, 40
# epochs, best epoch on validation); an `OnToday` dict overrides today's TrainConfig defaults.
BASE = {"standardize": False, "stft_transform": "none", "lr_decay": 0.9, "epochs": 40, "select": "best_valid"}


class OnToday(dict):
    """Overrides of today's TrainConfig defaults (whatever they are when the preset runs)."""


# The first defaults decided on real music (standardised maps, log1p STFT, constant rate, 20 epochs, last epoch),
# before random crops and mixup joined them.
REAL1 = {"crops": "grid", "mixup": 0.0}

PRESETS = {
    "defaults": OnToday(),
    "default": {},
    "paper": {"lr_decay": 1.0},  # raw units, constant rate
    "std": {"standardize": True},
    "std_const": {"standardize": True, "lr_decay": 1.0},
    "std_decay8": {"standardize": True, "lr_decay": 0.8},
    "std_e20": {"standardize": True, "epochs": 20},
    "std_e5": {"standardize": True, "epochs": 5},  # the synthetic check on a busy CPU (a 40-epoch fold: ~80 min)
    "std_e80": {"standardize": True, "epochs": 80},
    "std_drop5": {"standardize": True, "model.dropout": 0.5},
    "std_lr3e4": {"standardize": True, "learning_rate": 3e-4},
    "log1p": {"stft_transform": "log1p"},
    "std_log1p": {"standardize": True, "stft_transform": "log1p"},
    "std_db": {"standardize": True, "stft_transform": "db"},
    "std_log1p_const": {"standardize": True, "stft_transform": "log1p", "lr_decay": 1.0},
    "std_log1p_e20": {"standardize": True, "stft_transform": "log1p", "epochs": 20},
    "std_log1p_e2": {"standardize": True, "stft_transform": "log1p", "epochs": 2},  # synthetic check, busy CPU
    # On today's defaults:
    "real1": OnToday(REAL1),  # the grid of clips without mixup
    "real1_drop5": OnToday({**REAL1, "model.dropout": 0.5, "model.dropout_at": ("pool", "dense")}),
    "real1_crops": OnToday({"mixup": 0.0}),  # random crops alone
    "real1_mixup": OnToday({"crops": "grid"}),  # mixup alone
    "real1_crops_k128": OnToday({"mixup": 0.0, "model.k1": 128}),  # random crops, 128 filters
    "mixup04": OnToday({"mixup": 0.4}),  # mixup 0.4 whatever the net's default
    "defaults_e40": OnToday({"epochs": 40}),
    "defaults_mixup1": OnToday({"mixup": 1.0}),
    "defaults_e5": OnToday({"epochs": 5}),  # synthetic check
    "real1_e5": OnToday({**REAL1, "epochs": 5}),  # synthetic check
    # Today's defaults with other seeds (model init, batch order, crops, mixup draws): the spread of one setting.
    "seed1": OnToday({"seed": 1}),
    "seed2": OnToday({"seed": 2}),
    # net_STFT's map averaged into 96 mel bands before conv1 (ModelConfig.stft_bands)
    "bands96": OnToday({"model.stft_bands": 96}),
    "bands96_seed1": OnToday({"model.stft_bands": 96, "seed": 1}),
}


def make_config(net: str, fold: int, preset: str):
    from mgc_jax.config import ModelConfig, TrainConfig

    preset_over = PRESETS[preset]
    over = dict(preset_over) if isinstance(preset_over, OnToday) else {**BASE, **preset_over}
    model = {k.split(".", 1)[1]: over.pop(k) for k in list(over) if k.startswith("model.")}
    return TrainConfig(net=net, fold=fold, model=dataclasses.replace(ModelConfig(), **model), **over)


def load_corpus(args):
    from mgc_jax.data.corpus import prepare_corpus
    from mgc_jax.workdir import Workdir

    wd = Workdir(args.workdir)
    return prepare_corpus(None if args.synthetic else str(GTZAN_MINI), wd, progress=False), wd


def folds_of(corpus, synthetic: bool):
    from mgc_jax.data.folds import get_split, stratified_folds

    if synthetic:  # the project's own 10 stratified folds, as launch.train uses them
        return lambda k, wd: get_split(wd, corpus.name, corpus.tracks, "stratified", k)
    folds = stratified_folds(corpus.tracks, n_folds=N_FOLDS)
    return lambda k, wd: folds[k]


def results_path(wd, corpus) -> pathlib.Path:
    return pathlib.Path(wd.root) / "real_music" / corpus.name / "results.jsonl"


def read_results(path: pathlib.Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def last_epoch_accuracy(run_dir, data, epochs: int) -> float:
    """Test-track accuracy of the last epoch's checkpoint (majority vote, as for the best one), on the maps in
    the run's own units (its STFT transform applied, as training applied it)."""
    from mgc_jax.serve.inference import load_trained
    from mgc_jax.train.loop import with_input_transform
    from mgc_jax.train.steps import predict_tracks, track_metrics

    t = load_trained(run_dir, step=epochs)
    data = with_input_transform(data, t.train_cfg)
    stats = None if t.standardizer is None else t.standardizer.to_tree()
    probs = predict_tracks(t.model, data.test, stats=stats, batch_size=t.train_cfg.eval_batch_size)
    return track_metrics(probs, data.labels["test"])["track_acc"]


def _results(wd, corpus) -> tuple[pathlib.Path, set]:
    """The results file (its folder made) and the (preset, net, fold) runs it already records."""
    out = results_path(wd, corpus)
    out.parent.mkdir(parents=True, exist_ok=True)
    return out, {(r["preset"], r["net"], r["fold"]) for r in read_results(out)}


def _record(out: pathlib.Path, rec: dict) -> None:
    print(json.dumps(rec), flush=True)
    with open(out, "a") as f:
        f.write(json.dumps(rec) + "\n")


def train_runs(args, corpus, wd) -> None:
    from mgc_jax.config import feature_widths
    from mgc_jax.train.loop import fold_data, split_digest, train_and_evaluate

    out, done = _results(wd, corpus)
    split_of = folds_of(corpus, args.synthetic)
    for preset in args.presets:
        for net in args.nets:
            for fold in args.folds:
                if (preset, net, fold) in done:
                    continue
                cfg = make_config(net, fold, preset)
                split = split_of(fold, wd)
                data = fold_data(cfg, corpus, split)
                run_dir = pathlib.Path(wd.root) / "real_music" / corpus.name / preset / net / f"fold{fold}"
                t0 = time.perf_counter()
                res = train_and_evaluate(cfg, run_dir, data, in_bins=feature_widths(corpus.cfg),
                                         run_info={"corpus": corpus.name, "split_digest": split_digest(data.ids)})
                rec = {"preset": preset, "net": net, "fold": fold, "test_acc": res.test_accuracy,
                       "test_clip_acc": res.test_clip_accuracy, "valid_acc": res.valid_accuracy,
                       "best_epoch": res.best_epoch, "last_test_acc": last_epoch_accuracy(run_dir, data, cfg.epochs),
                       "n_test": len(data.ids["test"]), "seconds": round(time.perf_counter() - t0, 1),
                       "run_dir": str(run_dir),
                       "overrides": dict(PRESETS[preset]), "on_today": isinstance(PRESETS[preset], OnToday)}
                _record(out, rec)


def baseline_runs(args, corpus, wd) -> None:
    from mgc_jax.eval import baseline

    out, done = _results(wd, corpus)
    split_of = folds_of(corpus, args.synthetic)
    for fold in args.folds:
        if ("svm", "baseline", fold) in done:
            continue
        run_dir = pathlib.Path(wd.root) / "real_music" / corpus.name / "svm" / "baseline" / f"fold{fold}"
        t0 = time.perf_counter()
        res = baseline.fit_and_evaluate(corpus, split_of(fold, wd), run_dir=run_dir)
        rec = {"preset": "svm", "net": "baseline", "fold": fold, "test_acc": res.test_accuracy,
               "valid_acc": res.valid_accuracy, "C": res.C, "gamma": res.gamma, "n_test": res.n_test,
               "seconds": round(time.perf_counter() - t0, 1), "run_dir": str(run_dir)}
        _record(out, rec)


def baseline_grid(args, corpus, wd) -> str:
    """Pooled test accuracy of the baseline at each fixed (C, gamma) of a small grid, on the same folds."""
    from mgc_jax.eval import baseline

    split_of = folds_of(corpus, args.synthetic)
    lines = ["| C | gamma | test acc (pooled) |", "|---|---|---|"]
    for C in (1.0, 10.0, 100.0):
        for gamma in ("scale", 0.01, 0.003, 0.001):
            cfg = baseline.BaselineConfig(c_grid=(C,), gamma_grid=(gamma,))
            res = [baseline.fit_and_evaluate(corpus, split_of(k, wd), cfg=cfg) for k in args.folds]
            n = sum(r.n_test for r in res)
            acc = sum(r.test_accuracy * r.n_test for r in res) / n
            lines.append(f"| {C:g} | {gamma} | {100 * acc:.1f} % ({round(acc * n)}/{n}) |")
    return "\n".join(lines)


def fusion2_accuracy(rows: list[dict], stft: str, music: str) -> tuple[float, int] | None:
    """Pooled FUSION2 test-track accuracy of presets (stft, music) over the folds both have, and the fold count."""
    from mgc_jax.eval.systems import fold_decisions
    from mgc_jax.train.rundir import read_test_probs

    dirs = {(r["preset"], r["net"], r["fold"]): r["run_dir"] for r in rows}
    correct, n, folds = 0, 0, 0
    for (p, net, fold), d in sorted(dirs.items()):
        if (p, net) != (stft, "stft") or (music, "music", fold) not in dirs:
            continue
        by_net = {"stft": read_test_probs(pathlib.Path(d) / "test_probs.npz"),
                  "music": read_test_probs(pathlib.Path(dirs[(music, "music", fold)]) / "test_probs.npz")}
        pred = fold_decisions(by_net)["FUSION2"]
        correct += int((pred == by_net["stft"].labels).sum())
        n += len(pred)
        folds += 1
    return (correct / n, folds) if n else None


def table(args, corpus, wd) -> str:
    rows = read_results(results_path(wd, corpus))
    groups: dict = {}
    for r in rows:
        groups.setdefault((r["net"], r["preset"]), []).append(r)
    lines = [f"Corpus `{corpus.name}`, {'10' if args.synthetic else '5'}-fold stratified CV; test-track accuracy "
             "pooled over the folds listed (artist-confounded: an upper bound for unseen artists).", "",
             "| net | preset | overrides | folds | test acc (best-on-valid) | test acc (last epoch) | mean valid acc "
             "| mean best epoch | s per fold |", "|---|---|---|---|---|---|---|---|---|"]
    for (net, preset), rs in sorted(groups.items()):
        n = sum(r["n_test"] for r in rs)
        acc = sum(r["test_acc"] * r["n_test"] for r in rs) / n
        last = (f"{100 * sum(r['last_test_acc'] * r['n_test'] for r in rs) / n:.1f} %"
                if all("last_test_acc" in r for r in rs) else "-")
        over = PRESETS.get(preset, {})
        over = ("MFCC+music stats, RBF SVM" if net == "baseline"
                else f"today's defaults + {json.dumps(over)}" if isinstance(over, OnToday) else json.dumps(over))
        best = f"{np.mean([r['best_epoch'] for r in rs]):.1f}" if all("best_epoch" in r for r in rs) else "-"
        lines.append(f"| {net} | {preset} | `{over}` | {','.join(str(r['fold']) for r in sorted(rs, key=lambda r: r['fold']))} "
                     f"| {100 * acc:.1f} % ({round(acc * n)}/{n}) | {last} | {100 * np.mean([r['valid_acc'] for r in rs]):.1f} % "
                     f"| {best} | {np.mean([r['seconds'] for r in rs]):.0f} |")
    for pair in args.fuse:
        parts = dict(p.split(":") for p in pair.split(","))
        f2 = fusion2_accuracy(rows, parts["stft"], parts["music"])
        if f2:
            lines.append(f"| FUSION2 | stft:{parts['stft']} + music:{parts['music']} | | {f2[1]} folds "
                         f"| {100 * f2[0]:.1f} % | | | | |")
    return "\n".join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workdir", default="/tmp/rm/work")
    p.add_argument("--nets", default="music", type=lambda s: s.split(","))
    p.add_argument("--presets", default="default", type=lambda s: s.split(","))
    p.add_argument("--folds", default="0-4")
    p.add_argument("--synthetic", action="store_true", help="the built-in synthetic corpus instead of gtzan_mini")
    p.add_argument("--baseline", action="store_true", help="the MFCC + music-feature SVM on the same folds")
    p.add_argument("--baseline_grid", action="store_true", help="the baseline at fixed points of a C x gamma grid")
    p.add_argument("--table", action="store_true", help="print the markdown table of the recorded runs")
    p.add_argument("--fuse", default=[], action="append", help="stft:PRESET,music:PRESET pair for FUSION2")
    args = p.parse_args(argv)
    from mgc_jax.eval.systems import parse_folds

    args.folds = parse_folds(args.folds)
    for preset in args.presets:
        if preset not in PRESETS:
            p.error(f"--presets: unknown preset {preset!r} (known: {', '.join(PRESETS)})")
    corpus, wd = load_corpus(args)
    if args.table:
        print(table(args, corpus, wd))
    elif args.baseline_grid:
        print(baseline_grid(args, corpus, wd))
    elif args.baseline:
        baseline_runs(args, corpus, wd)
    else:
        train_runs(args, corpus, wd)


if __name__ == "__main__":
    main()
