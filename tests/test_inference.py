"""mgc_jax.serve.inference: checkpoints restored, any audio in, the training features and clips, votes
and fusion out; short and non-audio files give per-file errors."""
from __future__ import annotations

import copy
import os
import pathlib

import bad_audio
import numpy as np
import pytest
import soundfile as sf
from fake_data import WIDTHS, make_fold_data, tiny_config
from tones import tone

from mgc_jax import evaluate
from mgc_jax.config import ModelConfig
from mgc_jax.data import audio
from mgc_jax.data.clips import CLIP_FRAMES, ClipDataset
from mgc_jax.data.maps import cut_clips, min_samples
from mgc_jax.errors import AudioError, DataError
from mgc_jax.nets.standardize import Standardizer
from mgc_jax.serve.inference import Classifier, decide, load_trained
from mgc_jax.train import rundir
from mgc_jax.train.checkpoint import CheckpointError
from mgc_jax.train.loop import train_and_evaluate

SR = 22050


# ----------------------------------------------------------------------------------------- pure parts


def test_min_samples_is_one_clip():
    from dsp.config import FeatureConfig, n_frames

    cfg = FeatureConfig()
    assert min_samples(cfg) == 1024 + 127 * 512 == 66048
    assert n_frames(min_samples(cfg), cfg) == CLIP_FRAMES and n_frames(min_samples(cfg) - 1, cfg) == CLIP_FRAMES - 1


def test_cut_clips_windows():
    maps = {"music": np.arange(300 * 8, dtype=np.float32).reshape(300, 8), "stft": np.zeros((300, 5), np.float32)}
    clips = cut_clips(maps)
    assert clips["music"].shape == (3, 128, 8) and clips["stft"].shape == (3, 128, 5)  # starts 0, 64, 128
    np.testing.assert_array_equal(clips["music"][2], maps["music"][128:256])
    assert cut_clips(maps, max_clips=2)["music"].shape[0] == 2
    with pytest.raises(ValueError, match="different lengths"):
        cut_clips({"music": maps["music"], "stft": maps["stft"][:299]})


def test_decide_one_net_and_both_fusions_by_hand():
    genres = ("a", "b", "c")
    a = np.array([[0.8, 0.2, 0.0], [0.45, 0.55, 0.0], [0.3, 0.7, 0.0]])  # tests/test_evaluate.py's NET_A / NET_B
    b = np.array([[1.0, 0.0, 0.0], [0.45, 0.55, 0.0], [0.6, 0.4, 0.0]])
    one = decide([a], genres)
    assert (one.genre, one.rule, one.votes, one.n_clips) == ("b", "vote", {"b": 2, "a": 1}, 3)
    # top: mean probabilities a 0.517, b 0.483, c 0 (float32 arithmetic)
    assert [g for g, _ in one.top] == ["a", "b", "c"] and one.top[0][1] == pytest.approx(1.55 / 3, abs=1e-6)
    f2 = decide([a, b], genres)
    assert (f2.genre, f2.rule, f2.votes) == ("b", "fusion2", {"b": 2, "a": 1})  # clip means vote 0, 1, 1
    f1 = decide([a, b], genres, fusion="fusion1")
    assert (f1.genre, f1.rule) == ("a", "fusion1")  # the 6-row mean: a 0.60, b 0.40
    np.testing.assert_allclose(f1.probs, [0.6, 0.4, 0.0], atol=1e-6)  # float32 means
    assert f2.genre == genres[evaluate.fusion2(a, b)] and f1.genre == genres[evaluate.fusion1(a, b)]


# ---------------------------------------------------------------------------------- restored checkpoints


def test_classifier_predicts_arrays_files_and_resampled_stereo(runs, tmp_path):
    clf = Classifier.from_checkpoint(runs["music"])
    assert clf.nets == ("music",) and clf.kinds == ("music",) and len(clf.genres) == 10
    x = tone(4.0)
    p = clf.predict(x)
    # 4 s: T = 1 + (88200 - 1024) // 512 = 171 frames -> clips at 0 (one window of 128; 64 + 128 > 171)
    assert p.n_clips == 1 and p.rule == "vote" and p.genre in clf.genres
    assert sum(p.votes.values()) == 1 and p.probs.sum() == pytest.approx(1.0, abs=1e-5)  # softmax, float32
    mono = tmp_path / "mono.wav"
    sf.write(mono, x, SR, subtype="FLOAT")
    np.testing.assert_array_equal(clf.predict(mono).clip_probs, p.clip_probs)  # float WAV round-trips exactly

    # 44.1 kHz stereo: resampled and mixed down by audio.load, same decision machinery.
    y = tone(7.0, freq=220.0, sr=44100)
    stereo = tmp_path / "stereo.wav"
    sf.write(stereo, np.stack([y, 0.5 * y], axis=1), 44100, subtype="PCM_16")
    q = clf.predict(stereo)
    assert q.duration_s == pytest.approx(7.0, abs=1e-3)
    # 7 s cropped to the 6 s key window: 132,300 samples, T = 257 frames, clips at 0, 64, 128
    assert q.n_clips == 3
    from_array = clf.predict(sf.read(stereo, dtype="float64")[0], sample_rate=44100)
    # Same samples, same soxr resampler (float32 in, as a file's decode); only the mix's rounding point differs.
    np.testing.assert_allclose(from_array.clip_probs, q.clip_probs, atol=1e-5)


def test_classifier_sees_the_training_features(runs, tmp_path):
    """Inference on a file gives the clip probabilities of the feature cache's clips (what training and the test
    pass see): same crop, same maps, same clip windows."""
    from dsp.config import FeatureConfig
    from mgc_jax.data.cache import FeatureCache
    from mgc_jax.data.extraction import extract
    from mgc_jax.data.track import Track
    from mgc_jax.serve.inference import load_trained

    paths = []
    for i, secs in enumerate((8.0, 8.5)):  # both cropped to one 6 s key window: one compiled length
        paths.append(tmp_path / f"blues.{i:05d}.wav")
        sf.write(paths[-1], tone(secs, freq=200.0 + 50 * i, seed=i), SR, subtype="PCM_16")
    tracks = [Track(p.stem, "blues", p) for p in paths]
    report = extract(tracks, tmp_path / "cache", FeatureConfig(), batch_size=2, progress=False)
    assert not report.failed
    data = ClipDataset(FeatureCache(tmp_path / "cache"), [t.track_id for t in tracks], [0, 0], kinds=("stft", "music"))
    clf = Classifier.from_checkpoint(runs["stft"], runs["music"])
    trained = {t.train_cfg.net: t for t in (load_trained(runs["stft"]), load_trained(runs["music"]))}
    for i, path in enumerate(paths):
        clips = data.track_clips(i)
        expect = [trained[net].predict({net: clips[net]}) for net in ("stft", "music")]
        got = clf.clip_probs(audio.load(path), name=str(path))
        for e, g in zip(expect, got):
            assert e.shape == g.shape
            # The cache extracts a vmapped batch, inference one track: equal up to float32 reassociation.
            np.testing.assert_allclose(g, e, atol=1e-5)


def test_two_checkpoints_fuse(runs):
    clf = Classifier.from_checkpoint(runs["stft"], runs["music"])
    assert clf.nets == ("stft", "music") and clf.kinds == ("music", "stft") and clf.fusion == "fusion2"
    x = tone(9.0, freq=330.0)
    p = clf.predict(x)
    a, b = clf.clip_probs(x)
    assert p.rule == "fusion2" and p.label == evaluate.fusion2(a, b)
    np.testing.assert_allclose(p.clip_probs, (a + b) / 2, rtol=1e-6)  # float32 mean
    f1 = Classifier.from_checkpoint(runs["stft"], runs["music"], fusion="fusion1").predict(x)
    assert f1.rule == "fusion1" and f1.label == evaluate.fusion1(a, b)


def test_short_and_non_audio_inputs_give_clear_errors(runs, tmp_path):
    clf = Classifier.from_checkpoint(runs["music"])
    with pytest.raises(AudioError, match=r"too short to classify: 22050 samples \(1\.000 s\) at 22050 Hz, one clip "
                                         r"needs 128 frames = 66048 samples \(2\.995 s\)"):
        clf.predict(tone(1.0))
    assert clf.predict(tone(4.0)[:66048]).n_clips == 1  # exactly one clip is enough
    text = tmp_path / "notes.txt"
    text.write_text("not audio\n" * 100)
    with pytest.raises(AudioError, match="not an audio file") as e:
        clf.predict(text)
    assert e.value.path == str(text)


def test_from_checkpoint_refuses_a_non_run(tmp_path):
    from mgc_jax.train.checkpoint import CheckpointError

    with pytest.raises(CheckpointError, match=f"^{tmp_path}: not a training run directory \\(no config.json; "):
        Classifier.from_checkpoint(tmp_path)
    with pytest.raises(CheckpointError, match=f"^{tmp_path / 'gone'}: not a training run directory \\(no such dir"):
        Classifier.from_checkpoint(tmp_path / "gone")


def test_a_baseline_run_is_named_as_such(tmp_path):
    from mgc_jax.train.checkpoint import CheckpointError

    rundir.write_config(tmp_path, {"baseline": {"n_mfcc": 20}, "corpus": "c", "classes": ["a", "b"]})
    with pytest.raises(CheckpointError, match=f"^{tmp_path}: a run of the MFCC\\+SVM baseline, not of a net"):
        Classifier.from_checkpoint(tmp_path)


def test_the_checkpoints_folder_launch_train_prints_names_its_run(runs):
    x = tone(4.0)
    via_folder = Classifier.from_checkpoint(pathlib.Path(runs["music"]) / "checkpoints")
    direct = Classifier.from_checkpoint(runs["music"])
    np.testing.assert_array_equal(via_folder.predict(x).clip_probs, direct.predict(x).clip_probs)


def test_the_same_run_twice_or_two_runs_of_one_net_are_not_fused(music_run):
    run, copy = music_run
    with pytest.raises(DataError, match=f"^{run} given twice: fusion needs two runs of different nets"):
        Classifier.from_checkpoint(run, run)
    with pytest.raises(DataError, match=f"^{run} and {copy} are both music runs: fusion needs two runs of "
                                        "different nets"):
        Classifier.from_checkpoint(run, copy)


def test_too_short_names_samples_so_the_two_lengths_differ(music_run):
    clf = Classifier.from_checkpoint(music_run[0])
    with pytest.raises(AudioError) as e:
        clf.predict(np.zeros(66047, "float32"))  # 2.99533 s: "3.00 s" when rounded to 2 digits
    assert e.value.cause == ("too short to classify: 66047 samples (2.995 s) at 22050 Hz, one clip needs 128 frames "
                             "= 66048 samples (2.995 s)")


def test_an_int16_array_predicts_like_the_same_16_bit_file(music_run, tmp_path):
    clf = Classifier.from_checkpoint(music_run[0])
    t = np.arange(4 * 22050) / 22050
    pcm = np.round(0.3 * np.sin(2 * np.pi * 220 * t) * 32767).astype(np.int16)
    path = tmp_path / "tone.wav"
    sf.write(path, pcm, 22050, subtype="PCM_16")
    from_file, from_array = clf.predict(path), clf.predict(pcm)
    np.testing.assert_array_equal(from_array.clip_probs, from_file.clip_probs)  # scaled by 2^-15, not raw units
    stereo_first = clf.predict(np.stack([pcm, pcm]))  # channels-first [2, n]: 2 channels, not n channels
    np.testing.assert_array_equal(stereo_first.clip_probs, from_file.clip_probs)


def test_predict_caps_the_clips_of_a_long_file_and_refuses_bad_arrays(bad_corpus, runs):
    clf = Classifier.from_checkpoint(runs["stft"], runs["music"], max_clips=18)
    long = clf.predict(bad_corpus[1]["ten_minutes"])  # 402 clips uncapped (test_launch_predict)
    assert long.n_clips == 18 and np.isfinite(long.clip_probs).all()
    x, n = bad_audio.tone(bad_audio.N), bad_audio.N
    for bad, cause in [(np.where(np.arange(n) == 7, np.nan, x), r"non-finite samples \(1 NaN, 0 Inf; first at sample 7\)"),
                       (x * 1e12, r"sample values out of range")]:
        with pytest.raises(AudioError, match=r"^<array>: " + cause):
            clf.predict(bad)
    # Issue 26: a rate that cannot be audio is refused before the resampler allocates 22,050 x the samples.
    with pytest.raises(AudioError, match=r"^<array>: sample rate 1 Hz cannot be audio"):
        clf.predict(x, sample_rate=1)


def run_banded(tmp_path, net: str, bands: int, **overrides):
    """`run` on maps with a 64-bin STFT (room for `bands` mel bands; WIDTHS' 12 bins have too few)."""
    widths = {**WIDTHS, "stft": 64}
    cfg = tiny_config(net=net, model=ModelConfig(k1=8, dense=(16, 12), stft_bands=bands), **overrides)
    data = make_fold_data(cfg.kinds, widths=widths)
    return train_and_evaluate(cfg, tmp_path / "run", data, in_bins=widths), cfg, data


@pytest.mark.parametrize("net,bands", [("early", 0), ("stft", 16)])
def test_load_trained_classifies_like_the_run(tmp_path, net, bands):
    res, cfg, data = run_banded(tmp_path, net, bands, epochs=2, standardize=True)
    trained = load_trained(res.run_dir)
    assert trained.train_cfg == cfg and trained.epoch == res.best_epoch
    assert trained.model.block.bands == bands if net == "stft" else trained.model.branches["stft"].bands == 0
    from mgc_jax.nets.input_transform import TransformedCache

    fitted = Standardizer.fit(TransformedCache(data.cache, cfg.stft_transform), data.ids["train"], cfg.kinds)
    for kind in cfg.kinds:
        np.testing.assert_array_equal(trained.standardizer.mean[kind], fitted.mean[kind])
        np.testing.assert_array_equal(trained.standardizer.std[kind], fitted.std[kind])
    z = np.load(res.test_probs_path)
    raw = copy.copy(data.test)
    raw.transform = None  # clips in cache units, as inference reads them
    for i in range(len(data.ids["test"])):
        p = trained.predict(raw.track_clips(i))  # applies the run's STFT transform and standardisation
        # One ulp apart at most: XLA's CPU thread pool may split the early net's matmuls differently between the
        # training process's test pass and this call (seen under load: 7e-9 on one of 50 values).
        np.testing.assert_allclose(p, z["probs"][i, : z["n_clips"][i]], rtol=1e-6, atol=1e-8)
    with pytest.raises(CheckpointError, match="not a training run directory"):
        load_trained(tmp_path / "nowhere")


def test_classifier_refuses_bytes_and_file_objects_and_takes_bfloat16(runs, tmp_path):
    clf = Classifier.from_checkpoint(runs["music"])
    path = tmp_path / "tone.wav"
    sf.write(path, tone(4.0), SR, subtype="FLOAT")
    with pytest.raises(TypeError, match="bytes are not read"):
        clf.predict(os.fsencode(path))
    with open(path, "rb") as f, pytest.raises(TypeError, match="file objects are not read"):
        clf.predict(f)
    import ml_dtypes

    x = tone(4.0)
    half = x.astype(ml_dtypes.bfloat16)
    got = clf.predict(half)
    np.testing.assert_array_equal(got.clip_probs, clf.predict(half.astype(np.float32)).clip_probs)


def test_long_arrays_are_classified_block_by_block_like_whole(runs, monkeypatch):
    from mgc_jax.data import maps

    clf = Classifier.from_checkpoint(runs["stft"], runs["music"])
    x = tone(40.0, seed=3)
    whole = clf.predict(x)
    monkeypatch.setattr(maps, "BLOCK_FRAMES", 512)  # 1678 frames: blocks of clips
    monkeypatch.setattr(maps, "KEY_GROUP", 4)
    blocks = clf.predict(x)
    np.testing.assert_allclose(blocks.clip_probs, whole.clip_probs, atol=1e-5)
    assert blocks.n_clips == whole.n_clips == 25
