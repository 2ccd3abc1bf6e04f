"""benchmarks/real_study.py: scoring of recorded study runs (decision rules, seed ensembles, paired differences)."""
from __future__ import annotations

import json
import pathlib

import bench_scripts
import numpy as np
import pytest

from mgc_jax.train.rundir import write_test_probs


@pytest.fixture(scope="module")
def study():
    return bench_scripts.load("real_study")


def fake_run(root: pathlib.Path, study, candidate: str, seed: int, probs: dict) -> dict:
    """A study run whose 5 folds each test the same 2 tracks (labels 0, 1) with the given clip probabilities."""
    wd = root / "emo" / candidate / f"seed{seed}"
    for net, p in probs.items():
        for fold in range(study.N_FOLDS):
            d = wd / "runs" / "emo" / f"stratified-{study.N_FOLDS}folds" / net / f"fold{fold}"
            d.mkdir(parents=True)
            ids = [f"f{fold}a", f"f{fold}b"]
            write_test_probs(d / "test_probs.npz", ids, np.array([0, 1], np.int32), p, ("a", "b"))
    return {"corpus": "emo", "candidate": candidate, "seed": seed, "crossval_s": 60.0, "n_tracks": 10,
            "workdir": str(wd), "data_dir": str(root / "no_such" / "emo")}


def test_mean_rule_ensembles_and_paired_differences(tmp_path, study):
    # Track 0 (label 0): two clips vote for 1 weakly, one clip for 0 strongly -> vote 1 (wrong), mean 0 (right).
    split = [np.array([[0.4, 0.6], [0.45, 0.55], [0.99, 0.01]]), np.array([[0.2, 0.8]] * 3)]
    right = [np.array([[0.9, 0.1]] * 3), np.array([[0.1, 0.9]] * 3)]
    wrong = [np.array([[0.2, 0.8]] * 3), np.array([[0.8, 0.2]] * 3)]
    base = [np.array([[0.9, 0.1]]), np.array([[0.9, 0.1]])]  # the baseline: one row per track, half right
    recs = [fake_run(tmp_path, study, "defaults", s, {"stft": split, "music": split, "baseline": base}) for s in (0, 1)]
    recs += [fake_run(tmp_path, study, "mel96", 0, {"stft": right, "music": wrong, "baseline": base}),
             fake_run(tmp_path, study, "mel96", 1, {"stft": wrong, "music": wrong, "baseline": base})]
    (tmp_path / "study.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))

    rows = {(r["candidate"], r["system"]): r for r in study.score(tmp_path, independent=False)}
    assert rows[("defaults", "net_STFT")]["acc"][0] == pytest.approx(0.5)  # vote: track 0 wrong
    assert rows[("defaults", "net_STFT (mean)")]["acc"][0] == pytest.approx(1.0)  # mean: both right
    assert rows[("defaults", "baseline")]["acc"][0] == pytest.approx(0.5)
    assert rows[("mel96", "net_STFT")]["per_seed"] == {0: 1.0, 1: 0.0}
    assert rows[("mel96", "net_STFT")]["acc"][0] == pytest.approx(0.5)  # mean over seeds
    # Seed ensemble of right (0.9 / 0.1) and wrong (0.2 / 0.8): 0.55 / 0.45 -> right on both tracks.
    assert rows[("mel96", "net_STFT")]["ensemble"] == pytest.approx(1.0)
    # Paired with the defaults' seeds 0, 1: mean rule 1.0 there, 0.5 here -> -0.5 points, every bootstrap too.
    diff, lo, hi, seeds = rows[("mel96", "net_STFT (mean)")]["diff"]
    assert (diff, lo, hi, seeds) == (pytest.approx(-0.5), pytest.approx(-0.5), pytest.approx(-0.5), [0, 1])
    assert rows[("defaults", "FUSION1")]["diff"] is None and rows[("mel96", "baseline")]["diff"] is None

    md = study.markdown(list(rows.values()))
    assert "| emo | mel96 | net_STFT | 0,1,2,3,4 (10) | 0,1 | 100.0 / 0.0 | 50.0 [" in md
    assert "1.0 min" in md and "| 10.0 min |" in md  # 60 s for 10 tracks: 10 min per 100 tracks
