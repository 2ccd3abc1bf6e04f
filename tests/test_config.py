"""mgc_jax.config: JAX-free, the facts it repeats from dsp agree with dsp, one rule for the filtered split's
fold, one dict round trip, ConfigError naming the field; launch/train_flags.py takes its defaults from it."""
from __future__ import annotations

import json
import pathlib
import shutil
import subprocess
import sys

import pytest

import dsp
from mgc_jax import config
from mgc_jax.config import ModelConfig, RunId, TrainConfig, paper_config
from mgc_jax.data.gtzan import GENRES as GTZAN
from mgc_jax.errors import ConfigError


def test_config_rundir_and_systems_import_without_jax():
    code = ("import sys, mgc_jax.config, mgc_jax.train.rundir, mgc_jax.eval.systems, launch.train_flags, launch.eval_flags; "
            "print(sorted(m for m in ('jax', 'flax', 'optax', 'orbax') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_widths_agree_with_dsp():
    from dsp.config import FEATURE_NAMES, FeatureConfig

    assert config.MUSIC_WIDTH == len(FEATURE_NAMES)
    assert config.FEATURE_WIDTHS == config.feature_widths(FeatureConfig()) == {"stft": 513, "music": 8}
    assert config.feature_widths(FeatureConfig(frame_length=512))["stft"] == 257
    with pytest.raises(ConfigError, match="unknown feature kind 'cqt'"):
        config.feature_width("cqt", FeatureConfig())


def test_the_filtered_split_has_fold_0_only():
    assert config.split_folds("filtered") == (0,)
    assert config.split_folds("stratified") == config.split_folds("artist") == tuple(range(10))
    assert config.check_folds("stratified", (3, 4)) == (3, 4)
    with pytest.raises(ConfigError, match=r"filtered split has one train/valid/test split \(fold 0\), not folds \[0, 1\]"):
        config.check_folds("filtered", (0, 1))
    with pytest.raises(ConfigError, match="fold 10 out of range: the artist split has folds 0..9"):
        config.check_folds("artist", (10,))
    with pytest.raises(ConfigError, match="TrainConfig.fold=1: the filtered split has a single fold"):
        TrainConfig(net="music", fold=1, split="filtered")
    with pytest.raises(ConfigError, match="RunId.fold=2: the filtered split"):
        RunId("stft", 2, "filtered").checked()
    with pytest.raises(ConfigError, match="split='x'"):
        config.split_folds("x")


def test_round_trip_and_errors_name_the_field():
    cfg = TrainConfig(net="early", fold=3, epochs=2, model=ModelConfig(k1=8, dense=(16,)))
    d = cfg.to_dict()
    assert d["model"]["dense"] == [16] and TrainConfig.from_dict(d) == cfg
    assert cfg.run_id == RunId("early", 3, "stratified") and "net" not in cfg.hparams and cfg.hparams["epochs"] == 2
    assert cfg.for_run("stft", 4).run_id == RunId("stft", 4) and cfg.for_run("stft", 4).hparams == cfg.hparams
    with pytest.raises(ConfigError, match=r"unknown TrainConfig fields \['bogus'\]"):
        TrainConfig.from_dict(dict(d, bogus=1))
    with pytest.raises(ConfigError, match=r"unknown ModelConfig fields \['k2'\]"):
        TrainConfig.from_dict(dict(d, model={"k2": 3}))
    with pytest.raises(ValueError, match=r"^ModelConfig\.k1=0: must be >= 1$"):  # a ConfigError is a ValueError
        ModelConfig(k1=0)


def test_n_folds_is_part_of_the_identity_and_names_dirs_only_when_not_10():
    from mgc_jax.workdir import Workdir

    cfg = TrainConfig(net="music", fold=4, n_folds=5)
    assert cfg.run_id == RunId("music", 4, "stratified", 5) and "n_folds" not in cfg.hparams
    assert config.split_folds("stratified", 5) == (0, 1, 2, 3, 4) and config.split_folds("manifest", 5) == (0,)
    assert config.check_folds("artist", (4,), 5) == (4,)
    with pytest.raises(ConfigError, match="fold 5 out of range: the stratified split has folds 0..4"):
        config.check_folds("stratified", (5,), 5)
    with pytest.raises(ConfigError, match=r"TrainConfig.fold=5: expected 0..4"):
        TrainConfig(net="music", fold=5, n_folds=5)
    with pytest.raises(ConfigError, match=r"TrainConfig.n_folds=2: expected an int >= 3"):
        TrainConfig(net="music", fold=0, n_folds=2)
    with pytest.raises(ConfigError, match=r"RunId.n_folds=5: the manifest split has one fixed"):
        RunId("stft", 0, "manifest", 5).checked()
    wd = Workdir("w")
    assert wd.run_dir("c", "stratified", "stft", 0) == wd.root / "runs/c/stratified/stft/fold0"  # unchanged
    assert wd.run_dir("c", "stratified", "stft", 0, n_folds=5) == wd.root / "runs/c/stratified-5folds/stft/fold0"
    assert wd.results_dir("c", "artist", n_folds=4) == wd.root / "results/c/artist-4folds"
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.for_classes(3).model.num_classes == 3 and cfg.for_classes(3).run_id == cfg.run_id


def test_configs_saved_before_n_folds_and_classes_still_match():
    from mgc_jax.train import rundir

    now = {"train": TrainConfig(net="music", fold=0).to_dict(), "corpus": "gtzan", "corpus_kind": "gtzan",
           "classes": list(GTZAN)}
    old = {"train": {k: v for k, v in now["train"].items() if k != "n_folds"}, "corpus": "gtzan"}
    assert rundir.config_mismatch(old, now) == ""
    five = {**now, "train": TrainConfig(net="music", fold=0, n_folds=5).to_dict()}
    assert rundir.config_mismatch(old, five) == "train.n_folds: 10 (saved) != 5 (now)"
    assert "classes" in rundir.config_mismatch(old, {**now, "classes": ["a", "b"]})
    assert "corpus_kind: 'synthetic' (saved)" in rundir.config_mismatch({**old, "corpus": "synthetic"}, now)


def test_stft_runs_saved_before_mel_bands_read_as_the_513_bins():
    """A run saved before ModelConfig.stft_bands existed was trained on the 513 bins: it reads (and serves) so."""
    from mgc_jax.train import rundir

    now = TrainConfig(net="stft", fold=0, model=ModelConfig(stft_bands=96)).to_dict()
    old_train = {**now, "model": {k: v for k, v in now["model"].items() if k != "stft_bands"}}
    assert rundir.train_config({"train": old_train}).model.stft_bands == 0
    assert rundir.train_config({"train": now}).model.stft_bands == 96
    assert "train.model.stft_bands: 0 (saved) != 96 (now)" in rundir.config_mismatch({"train": old_train},
                                                                                     {"train": now})
    with_bands = {**now, "model": {**now["model"], "stft_bands": 0}}
    assert rundir.config_mismatch({"train": old_train}, {"train": with_bands}) == ""


def test_train_config_refuses_an_unknown_transform():
    from mgc_jax.config import TrainConfig

    with pytest.raises(ValueError, match=r"TrainConfig.stft_transform='log2'"):
        TrainConfig(net="stft", fold=0, stft_transform="log2")
    from mgc_jax.config import paper_config

    assert TrainConfig(net="stft", fold=0).stft_transform == "log1p"  # decided on real music
    assert paper_config("stft", 0).stft_transform == "none"  # the paper's linear magnitude


@pytest.mark.parametrize("kw,field", [({"fold": 12}, "fold"), ({"net": "cqt"}, "net"), ({"split": "random"}, "split"),
                                      ({"split": "filtered", "fold": 3}, "fold"), ({"epochs": 0}, "epochs"),
                                      ({"optimizer": "rmsprop"}, "optimizer"), ({"learning_rate": 0.0}, "learning_rate"),
                                      ({"lr_decay": 0.0}, "lr_decay"), ({"lr_decay": 1.5}, "lr_decay"),
                                      ({"lr_schedule": "step"}, "lr_schedule")])
def test_train_config_validation_names_the_field(kw, field):
    with pytest.raises(ValueError, match=f"TrainConfig.{field}="):
        TrainConfig(**{"net": "music", "fold": 0, **kw})


def test_train_config_defaults_and_round_trip():
    cfg = TrainConfig(net="stft", fold=3)
    # Decided on real music (WORKSPACE.md "Defaults on real music"); the paper's settings are one call away.
    assert (cfg.epochs, cfg.batch_size, cfg.learning_rate, cfg.lr_decay, cfg.optimizer, cfg.standardize,
            cfg.stft_transform, cfg.select, cfg.crops, cfg.mixup) == (20, 20, 1e-3, 1.0, "adam", True, "log1p", "last",
                                                                 None, None)
    assert (cfg.crop_mode, cfg.for_run("music", 0).crop_mode, cfg.for_run("early", 0).crop_mode) == ("grid", "random", "grid")
    assert (cfg.mixup_alpha, cfg.for_run("music", 0).mixup_alpha, cfg.for_run("early", 0).mixup_alpha) == (0.0, 0.4, 0.0)
    paper = paper_config("stft", 3)
    assert (paper.epochs, paper.standardize, paper.stft_transform, paper.select, paper.crops, paper.mixup) == (
        40, False, "none", "best_valid", "grid", 0.0)
    assert (cfg.model.stft_bands, paper.model.stft_bands) == (96, 0)  # --paper: the 513 bins into conv1
    assert cfg.model.k1 == 256
    d = json.loads(json.dumps(cfg.to_dict()))
    assert TrainConfig.from_dict(d) == cfg


def test_config_refuses_augmentation_without_online_features_and_unknown_names():
    with pytest.raises(ConfigError, match=r"TrainConfig.augment=\('gain',\): .*features='online'"):
        TrainConfig(net="music", fold=0, augment=("gain",))
    with pytest.raises(ConfigError, match="TrainConfig.augment=.*entries must be in"):
        TrainConfig(net="music", fold=0, features="online", augment=("pitch",))
    with pytest.raises(ConfigError, match="TrainConfig.features='disk'"):
        TrainConfig(net="music", fold=0, features="disk")
    cfg = TrainConfig(net="music", fold=0, features="online", augment=["gain", "noise"])
    assert cfg.augment == ("gain", "noise") and TrainConfig.from_dict(cfg.to_dict()) == cfg


def _copy(tmp_path) -> pathlib.Path:
    out = tmp_path / "dsp"
    shutil.copytree(pathlib.Path(dsp.__file__).parent, out, ignore=shutil.ignore_patterns("__pycache__"))
    return out


def test_dsp_code_hash_is_the_packages_and_ignores_comments_docstrings_and_layout(tmp_path):
    copy = _copy(tmp_path)
    assert config.dsp_code_hash(copy) == config.dsp_code_hash()
    spectral = copy / "spectral.py"
    text = spectral.read_text()
    edited = text.replace('"""Root mean square of each raw frame', '"""RMS of each raw frame (reworded)', 1)
    edited = edited.replace("\ndef rms(", "\n# a new comment\n\n\ndef rms(", 1)
    assert edited != text
    spectral.write_text(edited)
    assert config.dsp_code_hash(copy) == config.dsp_code_hash()


def test_dsp_code_hash_changes_with_behaviour(tmp_path):
    copy = _copy(tmp_path)
    spectral = copy / "spectral.py"
    text = spectral.read_text()
    line = "    return safe_sqrt(jnp.mean(jnp.square(frames / s), axis=-1)) * s[..., 0]"
    assert line in text
    spectral.write_text(text.replace(line, line + " * 2"))  # rms doubled
    assert config.dsp_code_hash(copy) != config.dsp_code_hash()


@pytest.mark.parametrize("kw,message", [
    ({"momentum": float("nan")}, r"^TrainConfig\.momentum=nan: must be in \[0, 1\)$"),
    ({"eval_batch_size": 2**40}, r"^TrainConfig\.eval_batch_size=1099511627776: must be <= 2147483647$"),
    ({"epochs": 2.5}, r"^TrainConfig\.epochs=2\.5: must be an int in 1\.\.2147483647$"),
    ({"seed": True}, r"^TrainConfig\.seed=True: must be an int in 0\.\.9223372036854775807$"),
    ({"learning_rate": float("inf")}, r"^TrainConfig\.learning_rate=inf: must be a finite number > 0$"),
    ({"n_folds": 10**20}, r"^TrainConfig\.n_folds=100000000000000000000: expected an int >= 3 and <= 1000"),
])
def test_numeric_fields_are_range_checked(kw, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig(net="music", fold=0, **kw)


def test_clip_budgets_are_counts_and_the_paper_keeps_its_18_clips():
    from mgc_jax.config import PAPER_CLIPS, TrainConfig, paper_config

    assert paper_config("stft", 0).train_clips == paper_config("stft", 0).eval_clips == PAPER_CLIPS == 18
    default = TrainConfig(net="stft", fold=0)
    assert default.train_clips == 18 and default.eval_clips == 128
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="train_clips"):
            TrainConfig(net="stft", fold=0, train_clips=bad)
