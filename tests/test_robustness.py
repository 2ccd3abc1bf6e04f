"""Waveform saliency (mgc_jax.serve.saliency, Classifier.saliency) and adversarial robustness (mgc_jax.eval.robustness,
launch.robustness) on two tiny runs (net_MUSIC and net_STFT, k1 = 8, one epoch) trained on a 20-track corpus
of 8 s synthetic tracks (two genres; fold 0 tests on 2 tracks)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from short_corpus import two_genre_corpus


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    from fake_data import tiny_config

    from mgc_jax.data.corpus import prepare_corpus
    from mgc_jax.train import loop as train
    from mgc_jax.workdir import Workdir

    base = tmp_path_factory.mktemp("robustness")
    wd = Workdir(base / "ws")
    corpus = prepare_corpus(str(two_genre_corpus(base / "corpus")), wd, progress=False)
    # Three epochs: the nets classify some test tracks, so an attack has something to break.
    dirs = {net: train.run(tiny_config(net, epochs=3), wd, corpus).run_dir for net in ("music", "stft")}
    return wd, corpus, dirs


def test_saliency_is_the_gradient_of_the_score(runs):
    import jax

    from mgc_jax.data import audio
    from mgc_jax.serve.inference import Classifier
    from mgc_jax.serve.saliency import TrackModel

    wd, corpus, dirs = runs
    path = corpus.tracks[0].path
    x = audio.load(path, corpus.cfg.sample_rate)
    clf = Classifier.from_checkpoint(dirs["music"])
    sal = clf.saliency(path)
    assert sal.genre == clf.predict(path).genre
    assert sal.gradient.shape == x.shape and sal.gradient.dtype == np.float32
    assert np.isfinite(sal.gradient).all() and np.abs(sal.gradient).max() > 0
    assert set(sal.attribution) == {"music"} and sal.attribution["music"].shape == (8,)
    # The map-then-waveform chain of `saliency` equals the gradient of the composed score, and the attribution
    # is gradient x input of the map. (The music map holds step functions, zcr and the MinRMS trims, so a
    # finite difference of the waveform does not see its gradient; the STFT check below does.)
    model = TrackModel(clf.trained, clf.feature_cfg, x.size)
    direct = jax.jit(jax.grad(lambda v: model.score(model.params, v, sal.label)))(x)
    np.testing.assert_allclose(sal.gradient, direct, rtol=1e-4, atol=1e-6 * np.abs(direct).max())
    maps = model.maps(x)
    d_maps = jax.grad(lambda m: model.fused(model.net_log_probs_from_maps(model.params, m))[:, sal.label].mean())(maps)
    np.testing.assert_allclose(sal.attribution["music"], (d_maps["music"] * maps["music"]).sum(0), rtol=1e-4,
                               atol=1e-6 * np.abs(sal.attribution["music"]).max())
    assert not np.any(sal.gradient[model.spec.kept:])  # samples past the crop are not analysed

    # net_STFT: |STFT| is smooth away from zero, so a central difference along the gradient gives its norm.
    stft = Classifier.from_checkpoint(dirs["stft"])
    s2 = stft.saliency(x)
    assert s2.attribution["stft"].shape == (513,)
    m2 = TrackModel(stft.trained, stft.feature_cfg, x.size)
    g = s2.gradient.astype(np.float64)
    u = (g / np.linalg.norm(g)).astype(np.float32)
    # h = 3e-5 |x|: at 1e-3 |x| ReLU switches (curvature) moved the difference by 10 %; from 3e-5 down to 1e-5
    # it sat within 0.02 % of |g| on this corpus, and float32 rounding of S (~1e-7) costs ~1e-5 relative here.
    h = 3e-5 * np.linalg.norm(x)
    score = jax.jit(lambda v: m2.score(m2.params, v, s2.label))
    fd = (float(score(x + h * u)) - float(score(x - h * u))) / (2 * h)
    assert fd == pytest.approx(np.linalg.norm(g), rel=0.01)

    both = Classifier.from_checkpoint(dirs["stft"], dirs["music"]).saliency(x)
    assert set(both.attribution) == {"music", "stft"} and np.isfinite(both.gradient).all()


def test_pgd_respects_the_bound_and_hurts_at_least_as_much_as_noise(runs):
    from mgc_jax.eval import robustness
    from mgc_jax.serve.inference import Classifier

    wd, corpus, dirs = runs
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


def test_launch_robustness_json(runs, capsys):
    from launchers import run_in_process

    from launch import robustness as launcher

    wd, corpus, dirs = runs
    code, stdout, _ = run_in_process(launcher, capsys, f"--checkpoint={dirs['music']}", "--snr_db=30", "--steps=2",
                                     "--max_tracks=1", f"--workdir={wd.root}", "--json")
    assert code == 0
    out = json.loads(stdout)
    assert out["n_tracks"] == 1 and out["attacks"][0]["snr_db"] == 30.0
    assert out["attacks"][0]["min_achieved_snr_db"] >= 30.0


@pytest.mark.parametrize("args,message", [
    (["--snr_db=nan"], r"^error: --snr_db=nan: must be a finite number of dB in \[-20, 150\]$"),
    (["--snr_db=40,-1000"], r"^error: --snr_db=-1000\.0: must be a finite number of dB in \[-20, 150\]$"),
    (["--snr_db=inf"], r"^error: --snr_db=inf: must be a finite number"),
    (["--steps=1000000000"], r"^error: --steps=1000000000: must be in 1\.\.10000$"),
    (["--noise_seed=-1"], r"^error: --noise_seed=-1: must be in 0\.\."),
])
def test_absurd_flags_are_refused_in_one_line_before_any_work(tmp_path, capsys, args, message):
    import re

    from launchers import run_command

    code, _, err = run_command("robustness", capsys, f"--checkpoint={tmp_path / 'absent'}", *args,
                               f"--workdir={tmp_path / 'w'}")
    assert code == 2 and "Traceback" not in err, err
    assert re.search(message, err.strip().splitlines()[-1]), err
    assert not (tmp_path / "w").exists()


def test_attack_accuracies_refuses_a_non_finite_snr():
    from mgc_jax.eval import robustness

    for bad in (float("nan"), -1000.0, 1e9):
        with pytest.raises(ValueError, match="snr_db=.*must be a finite number of dB"):
            robustness.check_snr_dbs([40.0, bad])
