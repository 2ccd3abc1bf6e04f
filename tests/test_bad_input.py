"""Bad and unusual audio through every path a user takes: mgc_jax.data.audio.check / load, the dsp maps, the feature
cache's extraction, `launch.extract` and `launch.predict`.

Each case of tests/support/bad_audio.py has one documented result (the table in mgc_jax/data/audio.py's docstring): refused
with an AudioError naming the file and the cause, or read with a stated value. Whatever happens, no feature map
holds a NaN or Inf, no traceback escapes, and the good files next to a bad one are still extracted and classified.
(tests/test_audio.py covers truncation of each container format, unsupported codecs and the mixdown/resampler
maths; this suite is about the cases of issue 7 on every path.)
"""
from __future__ import annotations

import json
from typing import NamedTuple

import bad_audio
import numpy as np
import pytest
import soundfile as sf
from bad_audio import CASES, DC_LEVEL, SHORT_CLIP, SHORT_FRAME, SR, TEN_MINUTES, N, tone
from fake_runs import tiny_crossval
from launchers import run_in_process

import dsp
from mgc_jax.data import audio, cache, extraction, maps
from mgc_jax.data.gtzan import scan
from mgc_jax.data.track import Track
from mgc_jax.errors import AudioError

CFG = dsp.FeatureConfig()
COL = {name: i for i, name in enumerate(dsp.FEATURE_NAMES)}


class Refused(NamedTuple):
    cause: str  # start of the AudioError's cause
    by_check: bool  # the header-level audio.check already refuses it (else only the full decode of load)


REFUSED = {
    "empty": Refused("empty file (0 bytes)", True),
    "truncated": Refused("truncated: the header declares 176400 data bytes, the file holds 66150", True),
    "nan": Refused("non-finite samples (2 NaN, 0 Inf; first at sample 1000)", False),
    "inf": Refused("non-finite samples (0 NaN, 2 Inf; first at sample 30000)", False),
    "huge": Refused("sample values out of range (peak |x| = ", False),
    "text_named_au": Refused("not an audio file (no audio header; libsndfile would guess headerless 8000 Hz ULAW "
                             "from the .au extension)", True),
    "directory": Refused("is a directory, not an audio file", True),
}
LENGTH = {"short_frame": SHORT_FRAME, "short_clip": SHORT_CLIP, "ten_minutes": int(TEN_MINUTES * SR)}
LOADS = [c for c in CASES if c not in REFUSED]  # read as float32 mono at 22,050 Hz
HEADER = {  # case -> (rate, channels, subtype) that audio.check reports
    "zeros": (SR, 1, "PCM_16"), "clipped": (SR, 1, "PCM_16"), "dc": (SR, 1, "PCM_16"), "pcm_u8": (SR, 1, "PCM_U8"),
    "pcm_24": (SR, 1, "PCM_24"), "float32": (SR, 1, "FLOAT"), "rate_8k": (8000, 1, "PCM_16"),
    "rate_96k": (96000, 1, "PCM_24"), "six_channels": (SR, 6, "PCM_16"), "short_frame": (SR, 1, "PCM_16"),
    "short_clip": (SR, 1, "PCM_16"), "ten_minutes": (SR, 1, "PCM_16"), "flac_named_wav": (SR, 1, "PCM_16"),
}
TOO_SHORT_TO_EXTRACT = "too short: 1000 samples at 22050 Hz, less than one 1024-sample frame"
NOT_A_TRACK_FOLDER = "a folder inside a genre folder (expected audio files)"
LSB16 = 1 / 32768


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Every case and two good tracks in one GTZAN-layout folder: (root, {name: path})."""
    root = tmp_path_factory.mktemp("bad_corpus")
    return root, bad_audio.write_corpus(root)


def _loaded_as_documented(name: str, x: np.ndarray) -> None:
    """The value `audio.load` documents for a case that loads (see mgc_jax/data/audio.py)."""
    assert x.dtype == np.float32 and x.shape == (LENGTH.get(name, N),) and np.isfinite(x).all(), name
    src = tone(N)
    if name == "zeros":
        assert not x.any()
    elif name == "dc":
        np.testing.assert_array_equal(x, DC_LEVEL)  # no centring (MIRToolbox miraudio): 0.25 = 8192 / 32768 exactly
    elif name == "clipped":
        # Read as stored, no de-clipping: 16-bit full scale is -32768 .. 32767 (/ 32768), 42 % of the samples here.
        top = 32767 / 32768
        assert x.max() == top and x.min() == -1.0 and np.mean((x == top) | (x == -1.0)) > 0.4
        np.testing.assert_allclose(x, np.clip(20 * src, -1.0, top), atol=LSB16)  # 16-bit rounding
    elif name == "pcm_u8":
        np.testing.assert_allclose(x, src, atol=1 / 128)  # one 8-bit step (libsndfile's float -> u8 rounding)
    elif name == "pcm_24":
        np.testing.assert_allclose(x, src, atol=2.0 ** -23)  # one 24-bit step; k / 2^23 is exact in float32
    elif name == "float32":
        np.testing.assert_array_equal(x, (4.0 * src).astype(np.float32))  # stored float32, beyond ±1 kept
    elif name in ("rate_8k", "rate_96k"):
        mid = slice(2000, -2000)  # the resampler's edge transients
        # soxr VHQ (linear phase, delay removed): passband ripple and 16-bit quantization stay below 1e-3.
        np.testing.assert_allclose(x[mid], tone(N, noise=0.0)[mid], atol=1e-3)
    elif name == "six_channels":
        # The mean of the six channels (not their sum, not the first): each channel carries its own 16-bit rounding.
        np.testing.assert_allclose(x, bad_audio.six_channel_data().mean(axis=1), atol=LSB16)
    elif name in ("flac_named_wav", "short_frame", "short_clip"):
        # The content decides, not the extension: FLAC bytes named .wav decode as the 16-bit FLAC they are.
        np.testing.assert_allclose(x, src[: x.size], atol=LSB16)
    elif name == "ten_minutes":
        assert 0.1 < np.abs(x).max() < 1


# ------------------------------------------------------------------------------------- audio.check / load


@pytest.mark.parametrize("name", list(CASES))
def test_check_and_load(name, corpus):
    _, paths = corpus
    path = paths[name]
    if name in REFUSED:
        expected = REFUSED[name]
        with pytest.raises(AudioError) as err:
            audio.load(path)
        assert err.value.cause.startswith(expected.cause), err.value.cause
        assert err.value.path == str(path) and str(path) in str(err.value) and "\n" not in str(err.value)
        if expected.by_check:
            with pytest.raises(AudioError) as err:
                audio.check(path)
            assert err.value.path == str(path) and err.value.cause.startswith(expected.cause)
        else:
            audio.check(path)  # header-level: sample values need the full decode that load does
        return
    info = audio.check(path)
    assert (info.sample_rate, info.channels, info.subtype) == HEADER[name]
    assert info.format == ("FLAC" if name == "flac_named_wav" else "WAV")
    _loaded_as_documented(name, audio.load(path))


def test_other_headerless_guesses_and_raw_names_are_refused(tmp_path):
    """libsndfile guesses a headerless format from .snd/.vox/.gsm names and needs a rate for .raw (soundfile then
    raised TypeError): all are 'not an audio file'; text named .mp3 is refused by the MP3 decoder."""
    for ext in ("snd", "vox", "gsm", "raw", "mp3"):
        path = tmp_path / f"notes.{ext}"
        path.write_text("liner notes\n" * 100)
        for fn in (audio.check, audio.load):
            with pytest.raises(AudioError, match=r"not an audio file") as err:
                fn(path)
            assert err.value.path == str(path)


def test_check_samples_limits(tmp_path):
    audio.check_samples(np.array([-audio.MAX_ABS_SAMPLE, audio.MAX_ABS_SAMPLE]), "x")  # the bound itself is fine
    with pytest.raises(AudioError, match=r"^y: sample values out of range \(peak \|x\| = 2e\+06 at sample 1"):
        audio.check_samples(np.array([0.0, -2e6]), "y")


# --------------------------------------------------------------------------------------------- dsp maps


@pytest.mark.parametrize("name", [c if c != "ten_minutes" else pytest.param(c, marks=pytest.mark.slow) for c in LOADS])
def test_feature_maps_of_what_loads(name, corpus):
    """Every map is finite with T = 1 + (n - 1024) // 512 frames; the documented values of silence and DC."""
    x = audio.load(corpus[1][name])
    if name == "short_frame":
        with pytest.raises(dsp.ConfigError, match="signal of 1000 samples is shorter than one frame of 1024"):
            dsp.music_features(x, CFG)
        with pytest.raises(dsp.ConfigError, match="1000 samples"):
            dsp.stft_features(x, CFG)
        return
    music, counts = (np.asarray(a) for a in dsp.music_features_with_nan_counts(x, CFG))
    stft = np.asarray(dsp.stft_features(x, CFG))
    t = 1 + (x.size - 1024) // 512
    assert music.shape == (t, 8) and stft.shape == (t, 513)
    assert np.isfinite(music).all() and np.isfinite(stft).all()
    if name == "zeros":
        assert not music.any() and not stft.any()
        # Silence has no spectral shape: brightness, flatness and entropy are undefined (0) on every frame.
        np.testing.assert_array_equal(counts, [0, 0, t, t, t, 0, 0, 0])
        return
    np.testing.assert_array_equal(counts, 0)  # the envelope keeps every frame above the MinRMS thresholds
    if name == "dc":
        np.testing.assert_allclose(music[:, COL["rms"]], DC_LEVEL, rtol=1e-6)  # float32 mean of 1024 squares
        for col in ("zcr", "roughness", "key_clarity", "hcdf"):
            assert not music[:, COL[col]].any(), col  # no crossing, one spectral peak, constant frames: no chroma
        assert music[:, COL["brightness"]].max() < 1e-3  # only the window's side lobes reach above 1.5 kHz
    else:
        assert (music[:, COL["key_clarity"]] > 0).all()  # a pitched tone


# ----------------------------------------------------------------------------------- cache and launch.extract


@pytest.fixture(scope="module")
def extracted(corpus, tmp_path_factory):
    """extraction.extract over every file of the corpus, bad ones included (no discovery filter): (report, cache, workdir)."""
    from mgc_jax.workdir import Workdir

    root, paths = corpus
    wd = Workdir(tmp_path_factory.mktemp("work"))
    tracks = [Track(bad_audio.GOOD.get(n) or bad_audio.TRACK_IDS[n], p.parent.name, str(p)) for n, p in paths.items()]
    directory = wd.features_dir(root.resolve().name, CFG)  # where launch.extract looks for this corpus
    report = extraction.extract(tracks, directory, CFG, batch_size=2, progress=False)
    return report, cache.FeatureCache(directory), wd


def _track_id(name):
    return bad_audio.GOOD.get(name) or bad_audio.TRACK_IDS[name]


def test_extraction_skips_each_bad_file_with_its_cause_and_loses_nothing(corpus, extracted):
    _, paths = corpus
    report, fc, _ = extracted
    failed = dict(report.failed)
    by_path = {str(p): n for n, p in paths.items()}
    # Nothing lost, nothing twice: every file is either extracted or reported.
    assert sorted(report.done + [_track_id(by_path[p]) for p in failed]) == sorted(map(_track_id, paths))
    assert not report.skipped
    expected_failures = {n: r.cause for n, r in REFUSED.items()} | {"short_frame": TOO_SHORT_TO_EXTRACT}
    assert {by_path[p] for p in failed} == set(expected_failures)
    # cache.py reads the file's bytes (for its SHA-256) before audio.load, so a directory fails there first:
    # "unreadable ([Errno 21] Is a directory: ...)", which still says what is wrong.
    expected_failures["directory"] = "unreadable ([Errno 21] Is a directory"
    for name, cause in expected_failures.items():
        assert failed[str(paths[name])].startswith(cause), (name, failed[str(paths[name])])
    assert sorted(fc.entries()) == sorted(report.done)


@pytest.mark.parametrize("name", ["good_a", "good_b"] + [c for c in LOADS if c != "short_frame"])
def test_extracted_maps_are_finite_and_cropped_like_the_cache_says(name, extracted):
    _, fc, _ = extracted
    entry = fc.entries()[_track_id(name)]
    n = LENGTH.get(name, N)
    assert entry["n_samples"] == n and entry["n_samples_kept"] == maps.crop_length(n, CFG)
    t = dsp.n_frames(maps.crop_length(n, CFG), CFG)
    music, stft = fc.load(_track_id(name), "music"), fc.load(_track_id(name), "stft")
    assert music.shape == (t, 8) and stft.shape == (t, 513) and entry["n_frames"] == t
    assert np.isfinite(music).all() and np.isfinite(stft).all()
    if name == "ten_minutes":
        assert t == 25838  # 600 s end exactly on a key-window boundary: nothing cropped
    trimmed = [entry["nan_counts"][c] for c in ("brightness", "flatness", "entropy")]
    assert trimmed == ([t] * 3 if name == "zeros" else [0] * 3)


def test_good_tracks_beside_bad_ones_get_their_own_features(corpus, extracted):
    _, fc, _ = extracted
    x = audio.load(corpus[1]["good_a"])
    # A vmapped batch of two vs one direct call: the same XLA ops up to fusion order (float32 rounding).
    np.testing.assert_allclose(fc.load("blues.00000", "music"), dsp.music_features(x, CFG), rtol=1e-5, atol=1e-5)


def test_launch_extract_lists_every_file_not_used(corpus, extracted, capsys):
    from launch import extract

    root, paths = corpus
    _, _, wd = extracted
    code, out, _ = run_in_process(extract, capsys, f"--data_dir={root}", f"--workdir={wd.root}", "--noprogress")
    assert code == 0
    # 14 tracks cached by the fixture; short_clip is cached but has no 128-frame clip.
    assert "0 tracks extracted now, 14 already cached, 13 usable" in out, out
    not_used = {n: r.cause for n, r in REFUSED.items()} | {
        "directory": NOT_A_TRACK_FOLDER, "short_frame": TOO_SHORT_TO_EXTRACT,
        "short_clip": "shorter than one 128-frame clip (85 frames)"}
    assert f"{len(not_used)} files not used:" in out
    for name, cause in not_used.items():
        assert f"  {paths[name]}: {cause}" in out, name
    found = scan(root)  # discovery alone already refuses what the header check sees
    assert {p for p, _ in found.skipped} == {str(paths[n]) for n, r in REFUSED.items() if r.by_check}


# ------------------------------------------------------------------------------------------- launch.predict


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The tiny trained net_STFT / net_MUSIC pair shared with tests/test_inference.py (tests/support/fake_runs.py)."""
    tiny = tiny_crossval(tmp_path_factory.getbasetemp())
    return {net: tiny.workdir.run_dir("fakecorpus", "stratified", net, 0) for net in ("stft", "music")}


def test_launch_predict_gives_each_bad_file_its_error_and_classifies_the_rest(corpus, runs, capsys):
    from launch import predict

    _, paths = corpus
    files = ["good_a", *CASES]
    code, out, err = run_in_process(predict, capsys, f"--checkpoint={runs['stft']}", f"--checkpoint={runs['music']}",
                                 "--json", *(paths[n] for n in files))
    too_short = {"short_frame": f"too short to classify: {SHORT_FRAME} samples ({SHORT_FRAME / SR:.3f} s) at {SR} Hz, "
                                "one clip needs 128 frames",
                 "short_clip": f"too short to classify: {SHORT_CLIP} samples ({SHORT_CLIP / SR:.3f} s) at {SR} Hz, "
                               "one clip needs 128 frames"}
    errors = {n: r.cause for n, r in REFUSED.items()} | too_short
    assert code == 1 and err.strip().splitlines()[-1] == f"error: {len(errors)} of {len(files)} files could not be classified"
    results = dict(zip(files, json.loads(out)["files"]))
    for name, res in results.items():
        assert res["file"] == str(paths[name])
        if name in errors:
            assert res["error"].startswith(errors[name]), (name, res)
            continue
        assert "error" not in res, (name, res)
        # 4 s: 171 frames, one clip; 10 min: 25,838 frames, a clip every 64 frames: 402.
        n_clips, seconds = (402, 600.0) if name == "ten_minutes" else (1, 4.0)
        assert (res["n_clips"], res["duration_s"], res["rule"]) == (n_clips, seconds, "fusion2"), name
        assert sum(res["votes"].values()) == n_clips
        probs = [p for _, p in res["top"]]
        assert all(np.isfinite(probs)) and 0 < sum(probs) <= 1 + 1e-5, (name, probs)  # float32 softmax rounding


def test_predict_caps_the_clips_of_a_long_file_and_refuses_bad_arrays(corpus, runs):
    from mgc_jax.serve.inference import Classifier

    clf = Classifier.from_checkpoint(runs["stft"], runs["music"], max_clips=18)
    long = clf.predict(corpus[1]["ten_minutes"])  # maps of this length compiled by the launch test above
    assert long.n_clips == 18 and np.isfinite(long.clip_probs).all()
    x = tone(N)
    for bad, cause in [(np.where(np.arange(N) == 7, np.nan, x), r"non-finite samples \(1 NaN, 0 Inf; first at sample 7\)"),
                       (x * 1e12, r"sample values out of range")]:
        with pytest.raises(AudioError, match=r"^<array>: " + cause):
            clf.predict(bad)
