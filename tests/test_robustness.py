"""Adversarial robustness (mgc_jax.eval.robustness): PGD and noise attacks within an SNR bound, on two tiny runs
(conftest's two_genre_runs)."""
from __future__ import annotations

import numpy as np
import pytest


def test_pgd_respects_the_bound_and_hurts_at_least_as_much_as_noise(two_genre_runs):
    from mgc_jax.eval import robustness
    from mgc_jax.serve.inference import Classifier

    wd, corpus, dirs = two_genre_runs
    for run_dirs in ([dirs["music"]], [dirs["stft"]], [dirs["stft"], dirs["music"]]):
        clf = Classifier.from_checkpoint(*run_dirs)
        tracks = robustness.run_test_tracks(run_dirs, wd)
        assert len(tracks) == 2
        out = robustness.attack_accuracies(clf.trained, clf.feature_cfg, tracks, snr_dbs=[40.0, 10.0], steps=4)
        assert out["n_tracks"] == 2 and [a["snr_db"] for a in out["attacks"]] == [40.0, 10.0]
        for a in out["attacks"]:
            assert a["min_achieved_snr_db"] >= a["snr_db"]
            assert a["min_achieved_snr_db"] < a["snr_db"] + 0.01  # noise sits on the bound (1e-4 margin)
        at10 = out["attacks"][1]
        assert at10["pgd_accuracy"] <= at10["noise_accuracy"]


def test_bound_helpers():
    from mgc_jax.eval import robustness

    x = np.random.default_rng(0).standard_normal(1000).astype(np.float32)
    d = robustness.Attacker.noise(x, snr_db=20.0, rng=np.random.default_rng(1))
    assert 20.0 <= robustness.achieved_snr_db(x, d) < 20.001
    assert robustness.achieved_snr_db(x, np.zeros_like(x)) == float("inf")
    with pytest.raises(RuntimeError, match="below the bound 30"):
        robustness.check_bound(x, d, 30.0, "pgd at 30 dB, track 0")
    big = np.asarray(robustness.project_l2(np.ones(1000, np.float32) * 3, 2.0))
    assert np.linalg.norm(big) == pytest.approx(2.0, rel=1e-6)


def test_attack_accuracies_refuses_a_non_finite_snr():
    from mgc_jax.eval import robustness

    for bad in (float("nan"), -1000.0, 1e9):
        with pytest.raises(ValueError, match="snr_db=.*must be a finite number of dB"):
            robustness.check_snr_dbs([40.0, bad])
