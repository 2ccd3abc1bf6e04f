"""`python -m launch.fuse`: the saved runs' test probabilities fused (FUSION1, FUSION2, the baseline) and reported."""
from __future__ import annotations

import csv
import json

import pytest
from corpus_files import CLASSES, write_class_track
from fake_runs import write_fake_runs
from launchers import run_module, run_module_ok

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
