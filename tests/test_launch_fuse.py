"""`python -m launch.fuse`: the saved runs' test probabilities fused (FUSION1, FUSION2, the baseline) and reported."""
from __future__ import annotations

import csv
import json

import pytest
from corpus_files import CLASSES, write_class_track
from fake_runs import write_fake_runs
from launchers import run_module, run_module_ok

from mgc_jax.eval import systems
from mgc_jax.evaluate import Bootstrap
from mgc_jax.workdir import Workdir


@pytest.mark.slow
def test_a_manifest_trains_both_nets_and_fuses_with_the_baseline(tmp_path):
    """`launch.train` (music, stft) on a manifest's split column, then `launch.fuse --json`: nets, fusions and the
    baseline, on the manifest's test tracks."""
    audio = tmp_path / "audio"
    rows = []
    for cls in CLASSES:
        for i, split in enumerate(["train"] * 3 + ["valid", "test"]):
            path = write_class_track(audio / f"{cls.lower()} {i}.wav", cls, i)
            rows.append({"path": path.name, "label": cls, "artist": f"{cls} band {i % 2}", "split": split})
    manifest = audio / "corpus.csv"
    with open(manifest, "w", newline="") as f:
        w = csv.DictWriter(f, ["path", "label", "artist", "split"])
        w.writeheader()
        w.writerows(rows)
    common = [f"--data_dir={manifest}", "--split=manifest", f"--workdir={tmp_path / 'ws'}"]
    for net in ("music", "stft"):
        run_module_ok("launch.train", f"--net={net}", "--epochs=1", "--k1=8", *common)
    out = json.loads(run_module_ok("launch.fuse", "--json", "--n_boot=100", *common).stdout)
    assert sorted(out["nets"]) == ["net_MUSIC", "net_STFT"]
    assert sorted(out["systems"]) == ["FUSION1", "FUSION2", "FUSION2+baseline", "baseline"]
    assert out["classes"] == list(CLASSES) and out["corpus_kind"] == "manifest" and out["n_tracks"] == 3
    assert out["split"] == "manifest" and out["n_folds"] == 1 and out["folds"] == [0]
    assert all(0 <= s["accuracy"] <= 1 and s["n_tracks"] == 3 for s in out["systems"].values())
    assert out["systems"]["baseline"]["paper"] is None


def test_fuse_without_a_corpus_says_how_to_skip_the_baseline(tmp_path):
    write_fake_runs(Workdir(tmp_path), "gtzan", "stratified", ("stft", "music"), (0,))
    proc = run_module("launch.fuse", "--fold=0", f"--data_dir={tmp_path / 'gtzan'}", f"--workdir={tmp_path}",
                      timeout=300)
    last = proc.stderr.strip().splitlines()[-1]
    assert proc.returncode == 1 and "no such folder" in last and "--nobaseline fuses the saved nets alone" in last


def test_launch_fuse_prints_the_fusion_rows(tmp_path):
    wd = Workdir(tmp_path)
    write_fake_runs(wd, "gtzan", "stratified", ("stft", "music"), (0, 1, 2, 3))
    ev = systems.evaluate_runs(wd, "gtzan", "stratified", ("stft", "music"), (3,), boot=Bootstrap(n_boot=1000))
    data_dir = tmp_path / "gtzan"  # only its name matters: nothing is read from it
    proc = run_module("launch.fuse", "--fold=3", "--nobaseline", f"--data_dir={data_dir}", f"--workdir={tmp_path}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| FUSION")]
    s1, s2 = ev.systems["FUSION1"].summary, ev.systems["FUSION2"].summary
    assert rows[0].startswith(f"| FUSION1 | {100 * s1.pooled:.1f} ± {100 * s1.ci_half_width:.1f} | 90.5 ± 0.7 |")
    assert rows[1].startswith(f"| FUSION2 | {100 * s2.pooled:.1f} ± {100 * s2.ci_half_width:.1f} | 91.0 ± 1.2 |")
    assert "net_STFT" in proc.stdout.splitlines()[0] and "| net_" not in proc.stdout

    js = run_module("launch.fuse", "--folds=0-3", "--json", "--nobaseline", f"--data_dir={data_dir}",
                 f"--workdir={tmp_path}")
    assert js.returncode == 0, js.stderr[-3000:]
    out = json.loads(js.stdout)
    assert sorted(out["systems"]) == ["FUSION1", "FUSION2"] and out["folds"] == [0, 1, 2, 3] and out["n_tracks"] == 80

    missing = run_module("launch.fuse", "--folds=0-9", f"--data_dir={data_dir}", f"--workdir={tmp_path}")  # nets first
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    assert str(wd.run_dir("gtzan", "stratified", "stft", 4)) in missing.stderr.strip().splitlines()[-1]
    both = run_module("launch.fuse", "--fold=1", "--folds=0-9", f"--workdir={tmp_path}")
    assert both.returncode == 2 and both.stderr.strip().splitlines()[-1] == "error: give --fold or --folds, not both"


def test_a_damaged_test_probs_is_one_line_naming_it(tmp_path):
    from mgc_jax.train import rundir

    wd = Workdir(tmp_path)
    write_fake_runs(wd, "gtzan", "stratified", ("stft", "music"), (0,))
    bad = wd.run_dir("gtzan", "stratified", "music", 0) / rundir.TEST_PROBS
    data = bytearray(bad.read_bytes())
    data[len(data) // 2: len(data) // 2 + 64] = bytes(64)  # zipfile: "Bad CRC-32"
    bad.write_bytes(bytes(data))
    proc = run_module("launch.fuse", "--fold=0", "--nobaseline", f"--data_dir={tmp_path / 'gtzan'}",
                      f"--workdir={tmp_path}")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: {bad}: damaged test probabilities (") and "re-classifies" in last

