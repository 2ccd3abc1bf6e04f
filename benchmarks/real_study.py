"""Issue 25's study: today's defaults against candidate settings, 5-fold CV on two real corpora, several seeds.

For every corpus, candidate and seed it runs the user's two commands in a workdir of its own (one feature cache
and one split file shared by all, so every run sees the same maps and the same folds):

    python -m launch.crossval --data_dir=D --n_folds=5 --workdir=W [--seed=S] <candidate flags>
    python -m launch.fuse     --data_dir=D --n_folds=5 --workdir=W --json          > W/fuse.json

then scores, from the runs' test_probs.npz, the systems `launch.fuse` reports (net_STFT and net_MUSIC by clip
vote, FUSION1, FUSION2, the project's MFCC+SVM baseline on the same folds) plus the nets by averaged clip
probabilities ("mean") and, over the seeds, ensembles (clip probabilities averaged over seeds). Accuracy per seed,
the mean over seeds with a 95 % percentile bootstrap interval over tracks (each track's correctness averaged over
the seeds), and the paired difference to today's defaults (same tracks and seeds) with its bootstrap interval.

    python benchmarks/real_study.py --candidates defaults,bins513 --seeds 0,1,2 --workdir /tmp/study/w
    python benchmarks/real_study.py --report --workdir /tmp/study/w   # table.md and study.png in the workdir

Corpora: `--emotify` (default ../shared/emotify_dev: 100 one-minute MP3s, 4 classes) and `--gtzan_mini`
(../shared/gtzan_mini: 50 GTZAN tracks, 10 classes, artist-confounded: an upper bound for unseen artists).
Seed 0 runs without --seed (the defaults exactly). A run already finished is skipped (crossval reuses finished
runs), so an interrupted study resumes. Times: crossval's wall time per corpus, candidate and seed (training
both nets on 5 folds, the baseline, the reports), in <workdir>/study.jsonl.
"""
from __future__ import annotations

import argparse
import json
import pathlib
import subprocess
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
N_FOLDS = 5
N_BOOT = 2000

# name -> extra flags of launch.crossval (on top of today's defaults).
CANDIDATES = {
    "defaults": [],
    "mel96": ["--stft_bands=96"],  # net_STFT reads its log map averaged into 96 mel bands (the default since 25)
    "bins513": ["--stft_bands=0"],  # the paper's 513 bins into conv1 (the default before issue 25)
    "paper": ["--paper"],
    "cosine": ["--lr_schedule=cosine"],  # the learning rate from 1e-3 at epoch 1 down to ~0 at the last (default now)
    "constant": ["--lr_schedule=exponential"],  # a constant 1e-3 (lr_decay 1.0): the default before cosine
    "stft_random": ["--crops=random"],  # net_STFT's training clips drawn anew each epoch (net_MUSIC's default)
    # net_STFT trained as net_MUSIC already is: random clip starts and mixup (0.4); net_MUSIC unchanged
    "stft_reg": ["--crops=random", "--mixup=0.4"],
}
# Systems scored per run; "(mean)": argmax of the track's averaged clip probabilities instead of a clip vote.
SYSTEMS = ("net_STFT", "net_STFT (mean)", "net_MUSIC", "net_MUSIC (mean)", "FUSION1", "FUSION2", "baseline")
NEURAL = SYSTEMS[:-1]


def corpora(args) -> dict[str, pathlib.Path]:
    return {"emotify": pathlib.Path(args.emotify), "gtzan_mini": pathlib.Path(args.gtzan_mini)}


def run_workdir(root: pathlib.Path, corpus: str, candidate: str, seed: int) -> pathlib.Path:
    """<root>/<corpus>/<candidate>/seed<S>, its features/ and splits/ linked to <root>/<corpus>/shared/."""
    wd = root / corpus / candidate / f"seed{seed}"
    wd.mkdir(parents=True, exist_ok=True)
    for sub in ("features", "splits"):
        shared = root / corpus / "shared" / sub
        shared.mkdir(parents=True, exist_ok=True)
        link = wd / sub
        if not link.is_symlink():
            link.symlink_to(shared)
    return wd


def _run(cmd: list[str], log: pathlib.Path) -> float:
    """Run `cmd` (nice'd, output appended to `log`); its wall seconds; SystemExit naming the log on failure."""
    t0 = time.perf_counter()
    with open(log, "a") as f:
        f.write("$ " + " ".join(cmd) + "\n")
        f.flush()
        rc = subprocess.call(["nice", "-n", "5", *cmd], stdout=f, stderr=subprocess.STDOUT, cwd=REPO)
    if rc:
        raise SystemExit(f"{' '.join(cmd)} failed (status {rc}); see {log}")
    return time.perf_counter() - t0


def run_study(args) -> None:
    root = pathlib.Path(args.workdir)
    done = {(r["corpus"], r["candidate"], r["seed"]) for r in read_jsonl(root / "study.jsonl")}
    for corpus, data_dir in corpora(args).items():
        if corpus not in args.corpora:
            continue
        for candidate in args.candidates:
            for seed in args.seeds:
                if (corpus, candidate, seed) in done:
                    continue
                wd = run_workdir(root, corpus, candidate, seed)
                common = [f"--data_dir={data_dir}", f"--n_folds={N_FOLDS}", f"--workdir={wd}"]
                flags = CANDIDATES[candidate] + ([f"--seed={seed}"] if seed else []) + args.extra
                crossval = [sys.executable, "-m", "launch.crossval", *common, *flags]
                print(f"{corpus} {candidate} seed {seed}: {' '.join(crossval[1:])}", flush=True)
                seconds = _run(crossval, wd / "study.log")
                fuse = subprocess.run([sys.executable, "-m", "launch.fuse", *common, "--json"], cwd=REPO,
                                      capture_output=True, text=True, check=True).stdout
                (wd / "fuse.json").write_text(fuse)
                n_tracks = json.loads(fuse)["n_tracks"]
                commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                                        text=True).stdout.strip()
                rec = {"corpus": corpus, "candidate": candidate, "seed": seed, "crossval_s": round(seconds, 1),
                       "commit": commit,
                       "n_tracks": n_tracks, "flags": flags, "workdir": str(wd), "data_dir": str(data_dir)}
                with open(root / "study.jsonl", "a") as f:
                    f.write(json.dumps(rec) + "\n")
                print(json.dumps(rec), flush=True)


def read_jsonl(path: pathlib.Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()] if path.exists() else []


# ------------------------------------------------------------------------ an independent MFCC + SVM baseline

INDEPENDENT = "MFCC+SVM (independent)"


def independent_features(path: str) -> np.ndarray:
    """Whole-track statistics with librosa (not the project's DSP): mean and std of 20 MFCCs, their deltas,
    spectral centroid, bandwidth, roll-off, flatness, 7 contrast bands, zero-crossing rate and RMS."""
    import librosa

    y, sr = librosa.load(path, sr=22050, mono=True)
    mfcc = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=20)
    frames = np.concatenate([mfcc, librosa.feature.delta(mfcc), librosa.feature.spectral_centroid(y=y, sr=sr),
                             librosa.feature.spectral_bandwidth(y=y, sr=sr),
                             librosa.feature.spectral_rolloff(y=y, sr=sr), librosa.feature.spectral_flatness(y=y),
                             librosa.feature.spectral_contrast(y=y, sr=sr), librosa.feature.zero_crossing_rate(y),
                             librosa.feature.rms(y=y)])
    return np.concatenate([frames.mean(axis=1), frames.std(axis=1)])


def independent_baseline(root: pathlib.Path, corpus: str, data_dir: str, workdir: str) -> dict[str, bool]:
    """{test track id: correct} of an RBF SVM (C chosen by 3-fold CV on the fold's train + valid tracks among 1, 10,
    100; gamma "scale") on `independent_features`, over the study's folds."""
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    from mgc_jax.data.sources import find

    src = find(data_dir)
    cache = root / corpus / "independent_features.npz"
    if cache.exists():
        z = np.load(cache)
        feats = dict(zip(z["ids"].tolist(), z["x"]))
    else:
        feats = {t.track_id: independent_features(str(t.path)) for t in src.tracks}
        np.savez(cache, ids=np.array(list(feats)), x=np.stack(list(feats.values())))
    label = {t.track_id: src.classes.index(t.genre) for t in src.tracks}
    split = json.loads(next((pathlib.Path(workdir) / "splits").glob(f"*-{N_FOLDS}folds.json")).read_text())
    correct = {}
    for fold in split["folds"]:
        fit = fold["train"] + fold["valid"]
        svm = GridSearchCV(make_pipeline(StandardScaler(), SVC(gamma="scale")), {"svc__C": [1.0, 10.0, 100.0]},
                           cv=StratifiedKFold(3, shuffle=True, random_state=0))
        svm.fit(np.stack([feats[t] for t in fit]), [label[t] for t in fit])
        pred = svm.predict(np.stack([feats[t] for t in fold["test"]]))
        correct.update(zip(fold["test"], pred == np.array([label[t] for t in fold["test"]])))
    return correct


# ------------------------------------------------------------------------------------------------- scoring


def run_probs(rec: dict) -> dict:
    """{net: {fold: FoldProbs}} of one study run's finished runs (stft, music, baseline)."""
    from mgc_jax.data.sources import corpus_name
    from mgc_jax.eval.systems import BASELINE, collect
    from mgc_jax.workdir import Workdir

    return collect(Workdir(rec["workdir"]), corpus_name(rec["data_dir"]), "stratified", ("stft", "music", BASELINE),
                   range(N_FOLDS), n_folds=N_FOLDS, require_all=False)


def common_folds(probs: list[dict]) -> list[int]:
    """The folds every run of a corpus has finished for both nets (a partial study compares on these)."""
    sets = [set(p.get("stft", {})) & set(p.get("music", {})) for p in probs]
    return sorted(set.intersection(*sets)) if sets else []


def decisions(probs: dict, folds: list[int]) -> tuple[list[str], np.ndarray, dict[str, np.ndarray]]:
    """(track ids, labels int [N], {system: predictions int [N]}) over `folds`, in fold order."""
    from mgc_jax.eval.systems import fold_decisions

    ids, labels, pred = [], [], {s: [] for s in SYSTEMS}
    for fold in folds:
        by_net = {net: probs[net][fold] for net in probs if fold in probs[net]}
        dec = fold_decisions(by_net)
        for net, name in (("stft", "net_STFT"), ("music", "net_MUSIC")):
            dec[f"{name} (mean)"] = np.array([np.argmax(p.mean(axis=0)) for p in by_net[net].probs])
        for s in SYSTEMS:
            if s in dec:  # the baseline only where it was fitted on this fold
                pred[s].append(dec[s])
        ids += list(by_net["stft"].track_ids)
        labels.append(by_net["stft"].labels)
    return ids, np.concatenate(labels), {s: np.concatenate(v) for s, v in pred.items() if len(v) == len(folds)}


def ensemble(probs_by_seed: list[dict]) -> dict:
    """The seeds' clip probabilities averaged, per net and fold (the baseline is deterministic: seed 0's)."""
    from mgc_jax.train.rundir import FoldProbs

    out = {}
    for net, by_fold in probs_by_seed[0].items():
        out[net] = {}
        for fold, fp in by_fold.items():
            if not all(fold in p.get(net, {}) for p in probs_by_seed):
                continue
            mean = [np.mean([p[net][fold].probs[i] for p in probs_by_seed], axis=0) for i in range(len(fp.probs))]
            out[net][fold] = FoldProbs(fp.track_ids, fp.labels, tuple(mean), fp.genres)
    return out


def boot(x: np.ndarray, n_boot: int = N_BOOT, seed: int = 0) -> tuple[float, float, float]:
    """Mean of per-track values x [N] and its 95 % percentile bootstrap interval over tracks."""
    from mgc_jax.evaluate import Bootstrap, bootstrap_ci

    return bootstrap_ci(np.asarray(x, np.float64), Bootstrap(n_boot=n_boot, seed=seed))


def score(root: pathlib.Path, independent: bool = True) -> list[dict]:
    """One row per (corpus, candidate, system): accuracies per seed, the seed mean with its interval, the paired
    difference to the defaults, and the seed ensemble."""
    recs = read_jsonl(root / "study.jsonl")
    by = {}
    for r in recs:
        by.setdefault((r["corpus"], r["candidate"]), {})[r["seed"]] = r
    probs_of = {(r["corpus"], r["candidate"], r["seed"]): run_probs(r) for r in recs}
    folds_of = {c: common_folds([p for k, p in probs_of.items() if k[0] == c]) for c, _ in by}
    correct, rows, order = {}, [], {}
    for (corpus, cand), seeds in by.items():
        probs = {s: probs_of[(corpus, cand, s)] for s in sorted(seeds)}
        folds = folds_of[corpus]
        if not folds:
            print(f"{corpus}: no fold finished by every run yet", file=sys.stderr)
            continue
        per_seed = {}
        for s, p in probs.items():
            ids, labels, pred = decisions(p, folds)
            order[corpus] = ids
            per_seed[s] = {k: (v == labels) for k, v in pred.items()}
        ens = None
        if len(probs) > 1:
            _, labels, pred = decisions(ensemble(list(probs.values())), folds)
            ens = {k: float((v == labels).mean()) for k, v in pred.items()}
        correct[(corpus, cand)] = per_seed
        for system in [x for x in SYSTEMS if all(x in v for v in per_seed.values())]:
            c = np.mean([per_seed[s][system] for s in per_seed], axis=0)
            rows.append({"corpus": corpus, "candidate": cand, "system": system, "seeds": sorted(per_seed),
                         "per_seed": {s: float(per_seed[s][system].mean()) for s in per_seed},
                         "acc": boot(c), "ensemble": None if ens is None else ens.get(system), "n_tracks": len(c),
                         "folds": folds, "corpus_tracks": next(iter(seeds.values()))["n_tracks"],
                         "crossval_s": {s: seeds[s]["crossval_s"] for s in seeds}})
    for corpus, ids in order.items() if independent else ():
        rec = next(r for r in recs if r["corpus"] == corpus)
        ind = independent_baseline(root, corpus, rec["data_dir"], rec["workdir"])
        c = np.array([ind[t] for t in ids], float)
        rows.append({"corpus": corpus, "candidate": "-", "system": INDEPENDENT, "seeds": [], "per_seed": {},
                     "acc": boot(c), "ensemble": None, "n_tracks": len(c), "folds": folds_of[corpus],
                     "corpus_tracks": rec["n_tracks"], "crossval_s": {}})
    for row in rows:
        if row["system"] == INDEPENDENT:
            row["diff"] = None
            continue
        ref = correct.get((row["corpus"], "defaults"))
        mine = correct[(row["corpus"], row["candidate"])]
        common = sorted(set(ref or {}) & set(mine))
        if (ref is None or row["candidate"] == "defaults" or not common or row["system"] == "baseline"
                or any(row["system"] not in ref[s] for s in common)):
            row["diff"] = None
            continue
        d = np.mean([mine[s][row["system"]].astype(float) - ref[s][row["system"]] for s in common], axis=0)
        row["diff"] = boot(d) + (common,)
    return rows


def _pct(x) -> str:
    return f"{100 * x:.1f}"


def markdown(rows: list[dict]) -> str:
    lines = ["| corpus | candidate | system | folds (tracks) | seeds | accuracy per seed (%) | mean [95 % CI] (%) | "
             "seed ensemble (%) | vs defaults, paired [95 % CI] (points) |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        m, lo, hi = r["acc"]
        d = "" if not r["diff"] else f"{100 * r['diff'][0]:+.1f} [{100 * r['diff'][1]:+.1f}, {100 * r['diff'][2]:+.1f}]"
        ens = "" if r["ensemble"] is None or r["system"] == "baseline" else _pct(r["ensemble"])
        lines.append(f"| {r['corpus']} | {r['candidate']} | {r['system']} | "
                     f"{','.join(map(str, r['folds']))} ({r['n_tracks']}) | {','.join(map(str, r['seeds']))} | "
                     f"{' / '.join(_pct(v) for v in r['per_seed'].values())} | {_pct(m)} [{_pct(lo)}, {_pct(hi)}] | "
                     f"{ens} | {d} |")
    cost = ["", "| corpus | candidate | seed | crossval wall time (5 folds, both nets + baseline) | per 100 tracks |",
            "|---|---|---|---|---|"]
    seen = set()
    for r in rows:
        key = (r["corpus"], r["candidate"])
        if key in seen:
            continue
        seen.add(key)
        for s, sec in r["crossval_s"].items():
            if sec is None:  # a run registered by hand (partial, or timed elsewhere)
                continue
            cost.append(f"| {r['corpus']} | {r['candidate']} | {s} | {sec / 60:.1f} min | "
                        f"{sec / 60 * 100 / r['corpus_tracks']:.1f} min |")
    return "\n".join(lines + cost) + "\n"


CURVE_EPOCHS = (1, 2, 3, 5, 8, 10, 15, 20)


def curves(root: pathlib.Path) -> str:
    """Validation track / clip accuracy by epoch (mean over folds and seeds, from each run's metrics.jsonl) and
    the training seconds per run (one net, one fold): measured, and at the run's fastest epoch rate (the least
    contended on a shared machine): whether fewer epochs would do, and what each net costs."""
    lines = ["| corpus | candidate | net | seeds x folds | " + " | ".join(f"ep {e}" for e in CURVE_EPOCHS)
             + " | train s per run (measured) | at the fastest epoch's clips/s |", "|---" * (6 + len(CURVE_EPOCHS)) + "|"]
    by = {}
    for rec in read_jsonl(root / "study.jsonl"):
        by.setdefault((rec["corpus"], rec["candidate"]), []).append(rec)
    for (corpus, cand), recs in by.items():
        for net in ("stft", "music"):
            acc, clip, secs, best = {}, {}, [], []
            for rec in recs:
                for m in pathlib.Path(rec["workdir"]).glob(f"runs/*/stratified-{N_FOLDS}folds/{net}/fold*/metrics.jsonl"):
                    if not (m.parent / "test_probs.npz").exists():  # a run still training
                        continue
                    ms = read_jsonl(m)
                    secs.append(sum(x.get("epoch_s", 0.0) for x in ms))
                    rates = [x["clips_per_s"] for x in ms[1:] if x.get("clips_per_s")]  # epoch 1 compiles
                    clips = sum(x.get("clips_per_s", 0.0) * x.get("epoch_s", 0.0) for x in ms)
                    best.append(clips / max(rates) if rates else float("nan"))
                    for x in ms:
                        acc.setdefault(x["epoch"], []).append(x["valid_track_acc"])
                        clip.setdefault(x["epoch"], []).append(x["valid_clip_acc"])
            if not acc:
                continue
            cells = [f"{100 * np.mean(acc[e]):.0f} / {100 * np.mean(clip[e]):.0f}" if e in acc else "-"
                     for e in CURVE_EPOCHS]
            lines.append(f"| {corpus} | {cand} | {net} | {len(secs)} | " + " | ".join(cells)
                         + f" | {np.mean(secs):.0f} | {np.mean(best):.0f} |")
    return "Validation accuracy by epoch, track / clip (%):\n\n" + "\n".join(lines) + "\n"


def figure(rows: list[dict], path: pathlib.Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    corp = sorted({r["corpus"] for r in rows})
    cands = list(dict.fromkeys(r["candidate"] for r in rows))
    fig, axes = plt.subplots(1, len(corp), figsize=(6.5 * len(corp), 4.2), squeeze=False)
    for ax, c in zip(axes[0], corp):
        base = [r for r in rows if r["corpus"] == c and r["system"] == "baseline"]
        if base:
            m, lo, hi = base[0]["acc"]
            ax.axhspan(100 * lo, 100 * hi, color="0.9")
            ax.axhline(100 * m, color="0.4", ls="--", label=f"project baseline (MFCC+SVM) {100 * m:.0f} %")
        ind = [r for r in rows if r["corpus"] == c and r["system"] == INDEPENDENT]
        if ind:
            ax.axhline(100 * ind[0]["acc"][0], color="0.6", ls=":", label=f"independent MFCC+SVM {100 * ind[0]['acc'][0]:.0f} %")
        for i, cand in enumerate(cands):
            rs = [r for r in rows if r["corpus"] == c and r["candidate"] == cand and r["system"] in NEURAL]
            if not rs:
                continue
            x = np.array([NEURAL.index(r["system"]) for r in rs]) + (i - (len(cands) - 1) / 2) * 0.8 / len(cands)
            m = np.array([100 * r["acc"][0] for r in rs])
            err = np.array([[100 * (r["acc"][0] - r["acc"][1]) for r in rs], [100 * (r["acc"][2] - r["acc"][0]) for r in rs]])
            ax.errorbar(x, m, yerr=err, fmt="o", capsize=3, label=f"{cand} (seeds {','.join(map(str, rs[0]['seeds']))})")
        ax.set_xticks(range(len(NEURAL)))
        ax.set_xticklabels(NEURAL, rotation=25, ha="right", fontsize=8)
        ax.set_ylabel("test track accuracy, 5-fold CV (%)")
        ax.set_title(f"{c} ({base[0]['n_tracks'] if base else '?'} tracks), mean over seeds, 95 % bootstrap CI")
        ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workdir", default="/tmp/real_study")
    p.add_argument("--emotify", default=str(SHARED / "emotify_dev"))
    p.add_argument("--gtzan_mini", default=str(SHARED / "gtzan_mini"))
    p.add_argument("--corpora", default="emotify,gtzan_mini", type=lambda s: s.split(","))
    p.add_argument("--candidates", default="defaults,bins513", type=lambda s: s.split(","))
    p.add_argument("--seeds", default="0,1", type=lambda s: [int(x) for x in s.split(",")])
    p.add_argument("--extra", default=[], action="append", help="a further launch.crossval flag for every run")
    p.add_argument("--report", action="store_true", help="score the recorded runs: table.md and study.png")
    args = p.parse_args(argv)
    for c in args.candidates:
        if c not in CANDIDATES:
            p.error(f"--candidates: unknown {c!r} (known: {', '.join(CANDIDATES)})")
    root = pathlib.Path(args.workdir)
    if args.report:
        rows = score(root)
        md = markdown(rows) + "\n" + curves(root)
        (root / "table.md").write_text(md)
        (root / "rows.json").write_text(json.dumps(rows, indent=1))
        figure(rows, root / "study.png")
        print(md + f"\n(figure: {root / 'study.png'})")
    else:
        run_study(args)


if __name__ == "__main__":
    main()
