"""Real music on unseen tracks: train on gtzan_mini 00000-00003, validate on 00004, test on other GTZAN tracks.

The split issue 12 was measured on, run through the user's commands with default flags:

    python -m launch.train --net=music --data_dir=heldout.csv --split=manifest
    python -m launch.train --net=stft  --data_dir=heldout.csv --split=manifest
    python -m launch.fuse  --data_dir=heldout.csv --split=manifest --json     # nets, FUSION1/2, MFCC+SVM baseline

This script writes that manifest (train/valid from ../shared/gtzan_mini, test = every track of `--extra` whose id
is not one of gtzan_mini's 50), runs the three commands once per seed (seed 0: no --seed flag, i.e. the
defaults exactly) and prints a markdown table. `--extra` is any GTZAN-layout folder: a full GTZAN copy, or the
100-track public repository gtzan_mini was taken from (TempoBeatDownbeat/gtzan_mini: its tracks 00005-00009,
and jazz 00011-00012, are 51 tracks gtzan_mini lacks).

Artist caveat: GTZAN's early tracks per genre share artists (Sturm's index); the script counts how many test
tracks have an artist of the training or validation tracks and prints it beside the table.

    python benchmarks/gtzan_heldout.py --extra /data/gtzan_mini_repo/genres --seeds 0,1,2 --workdir /tmp/heldout

Results: <workdir>/results.jsonl (one line per seed; a seed already recorded is not re-run), runs under
<workdir>/seed<s>/.
"""
from __future__ import annotations

import argparse
import csv
import json
import pathlib
import subprocess
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from mgc_jax.data import folds, gtzan  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]
GTZAN_MINI = REPO.parent / "shared" / "gtzan_mini" / "genres"
SYSTEMS = ("net_MUSIC", "net_STFT", "FUSION1", "FUSION2", "baseline", "FUSION2+baseline")


def _number(track_id: str) -> int:
    return int(track_id.rsplit(".", 1)[1])


def write_manifest(mini, extra, out: pathlib.Path) -> dict:
    """Write the manifest; returns counts per split and the artist overlap of the test tracks."""
    mini_tracks = gtzan.discover(mini)
    mini_ids = {t.track_id for t in mini_tracks}
    test = [t for t in gtzan.discover(extra) if t.track_id not in mini_ids]
    if not test:
        raise SystemExit(f"{extra}: every GTZAN track there is one of gtzan_mini's; nothing to test on")
    artists = gtzan.sturm_artists()
    rows = [(t.path, t.genre, "train" if _number(t.track_id) < 4 else "valid", t.track_id) for t in mini_tracks]
    rows += [(t.path, t.genre, "test", t.track_id) for t in test]
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "label", "split", "track_id", "artist"])
        w.writerows((*r, artists.get(r[3], "")) for r in rows)
    groups = folds.artist_groups(mini_tracks + test, artists)  # the artist split's own matching of names
    seen = {groups[t.track_id] for t in mini_tracks}
    shared = sum(groups[t.track_id] in seen for t in test)
    counts = {s: sum(r[2] == s for r in rows) for s in ("train", "valid", "test")}
    return {**counts, "test_sharing_an_artist": shared}


def run_seed(seed: int, manifest: pathlib.Path, workdir: pathlib.Path, flags: list[str] = ()) -> dict:
    """The three commands with default flags (plus --seed for seed > 0, and `flags` for launch.train); returns the
    fuse JSON's accuracies."""
    common = [f"--data_dir={manifest}", "--split=manifest", f"--workdir={workdir}"]
    seed_flag = [f"--seed={seed}"] if seed else []
    start = time.time()
    for net in ("music", "stft"):
        subprocess.run([sys.executable, "-m", "launch.train", f"--net={net}", *seed_flag, *flags, *common],
                       cwd=REPO, check=True)
    fused = subprocess.run([sys.executable, "-m", "launch.fuse", *common, "--json"], cwd=REPO, check=True,
                           capture_output=True, text=True)
    report = json.loads(fused.stdout)
    acc = {name: report["nets"][name] for name in ("net_MUSIC", "net_STFT")}
    acc.update({name: report["systems"][name]["accuracy"] for name in SYSTEMS[2:] if name in report["systems"]})
    return {"seed": seed, "n_test": report["n_tracks"], "accuracy": acc, "seconds": round(time.time() - start, 1)}


def table(rows: list[dict]) -> str:
    lines = ["| system | " + " | ".join(f"seed {r['seed']}" for r in rows) + " | mean |",
             "| --- |" + " ---: |" * (len(rows) + 1)]
    for name in SYSTEMS:
        values = [r["accuracy"].get(name) for r in rows]
        cells = [f"{100 * v:.1f} %" if v is not None else "-" for v in values]
        known = [v for v in values if v is not None]
        mean = f"{100 * sum(known) / len(known):.1f} %" if known else "-"
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {mean} |")
    best = [max(r["accuracy"][n] for n in ("net_MUSIC", "net_STFT", "FUSION2")) for r in rows]
    lines.append("| best of net_MUSIC, net_STFT, FUSION2 | " + " | ".join(f"{100 * b:.1f} %" for b in best)
                 + f" | {100 * sum(best) / len(best):.1f} % |")
    return "\n".join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--extra", required=True, help="GTZAN-layout folder holding the test tracks")
    p.add_argument("--mini", default=str(GTZAN_MINI), help="gtzan_mini's genres folder (train/valid tracks)")
    p.add_argument("--workdir", default="/tmp/gtzan_heldout")
    p.add_argument("--seeds", default="0", type=lambda s: [int(x) for x in s.split(",")])
    p.add_argument("--flag", action="append", default=[], help="a further launch.train flag, e.g. "
                   "--flag=--lr_schedule=cosine (use another --workdir per setting)")
    args = p.parse_args(argv)

    wd = pathlib.Path(args.workdir)
    manifest = wd / "heldout.csv"
    counts = write_manifest(args.mini, args.extra, manifest)
    print(f"manifest {manifest}: {counts['train']} train / {counts['valid']} valid / {counts['test']} test tracks; "
          f"{counts['test_sharing_an_artist']} test tracks share an artist with train/valid (Sturm's index)")
    results = wd / "results.jsonl"
    done = {}
    if results.exists():
        for line in results.read_text().splitlines():
            row = json.loads(line)
            done[row["seed"]] = row
    for seed in args.seeds:
        if seed not in done:
            done[seed] = {**run_seed(seed, manifest, wd / f"seed{seed}", args.flag), **counts, "flags": args.flag}
            with open(results, "a") as f:
                f.write(json.dumps(done[seed]) + "\n")
    print(table([done[s] for s in args.seeds]))


if __name__ == "__main__":
    main()
