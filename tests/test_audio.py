"""mgc_jax.data.audio: reading, mono mixdown, resampling, and one AudioError cause per kind of bad file."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from mgc_jax.data import audio
from mgc_jax.errors import AudioError

SR = 22050


def _sine(freq, seconds, rate, amp=0.5):
    t = np.arange(int(seconds * rate)) / rate
    return amp * np.sin(2 * np.pi * freq * t)


def test_gtzan_au_is_read_unchanged(gtzan_dev_clips):
    clip = gtzan_dev_clips[0]
    x = audio.load(clip)
    ref, rate = sf.read(clip, dtype="float32")
    assert rate == SR and x.dtype == np.float32
    np.testing.assert_array_equal(x, ref)  # 22,050 Hz mono: no resampling, no mixdown, no scaling
    assert audio.check(clip).frames == x.size


def test_16bit_au_round_trips_exactly(tmp_path):
    ints = np.random.default_rng(0).integers(-32768, 32767, size=5000, dtype=np.int16)
    path = tmp_path / "blues.00001.au"
    sf.write(path, ints, SR, format="AU", subtype="PCM_16")
    x = audio.load(path)
    np.testing.assert_array_equal(x * 32768.0, ints.astype(np.float32))  # k / 32768 is exact in float32


def test_stereo_44k_is_mixed_down_and_resampled(tmp_path):
    left, right = _sine(1000.0, 2.0, 44100, 0.5), _sine(1000.0, 2.0, 44100, 0.3)
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([left, right], 1), 44100, subtype="FLOAT")
    x = audio.load(path)
    assert x.dtype == np.float32 and x.shape == (SR * 2,)
    expected = _sine(1000.0, 2.0, SR, 0.4)  # mean of the two channels
    mid = slice(2000, -2000)  # the resampler's edge transients
    # soxr VHQ is linear-phase with its delay removed; 1e-3 bounds passband ripple and float32 rounding.
    np.testing.assert_allclose(x[mid], expected[mid], atol=1e-3)


def test_opposite_channels_mix_to_silence(tmp_path):
    s = _sine(440.0, 0.5, SR)
    path = tmp_path / "phase.wav"
    sf.write(path, np.stack([s, -s], 1), SR, subtype="FLOAT")
    np.testing.assert_array_equal(audio.load(path), 0.0)


@pytest.mark.parametrize("rate", [8000, 16000, 48000])
def test_other_rates_give_the_expected_length(tmp_path, rate):
    path = tmp_path / f"r{rate}.flac"
    sf.write(path, _sine(300.0, 1.5, rate), rate)
    x = audio.load(path)
    assert abs(x.size - round(1.5 * SR)) <= 1  # soxr rounds the output length of a whole signal
    assert audio.load(path, sample_rate=rate).size == int(1.5 * rate)


def _write_truncated(path, fmt):
    sf.write(path, _sine(200.0, 1.0, SR), SR, format=fmt)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _bad_files(tmp_path):
    """name -> (path, expected start of the cause)."""
    cases = {}
    cases["missing"] = (tmp_path / "nope.wav", "no such file")
    d = tmp_path / "blues.00009.au"
    d.mkdir()
    cases["directory"] = (d, "is a directory")
    (tmp_path / "empty.wav").write_bytes(b"")
    cases["empty"] = (tmp_path / "empty.wav", "empty file")
    for fmt in ("WAV", "AU", "AIFF", "FLAC", "OGG"):
        p = tmp_path / f"cut.{fmt.lower()}"
        _write_truncated(p, fmt)
        # libsndfile cannot tell a cut Ogg/FLAC stream from a damaged one: "corrupt or truncated".
        cases[f"truncated {fmt}"] = (p, "truncated" if fmt in ("WAV", "AU", "AIFF") else "")
    (tmp_path / "notes.wav").write_text("these are liner notes, not audio\n" * 20)
    cases["not audio"] = (tmp_path / "notes.wav", "not an audio file")
    # NIST SPHERE with shorten compression: a real format libsndfile knows but cannot decode.
    header = ("NIST_1A\n   1024\nsample_count -i 100\nsample_n_bytes -i 2\nchannel_count -i 1\n"
              "sample_byte_format -s2 01\nsample_rate -i 16000\nsample_coding -s26 pcm,embedded-shorten-v2.00\n"
              "end_head\n").encode().ljust(1024, b" ")
    (tmp_path / "shorten.nist").write_bytes(header + bytes(200))
    cases["unsupported"] = (tmp_path / "shorten.nist", "unsupported audio format")
    sf.write(tmp_path / "zero.wav", np.zeros(0), SR)
    cases["no samples"] = (tmp_path / "zero.wav", "no audio samples")
    bad = _sine(100.0, 0.2, SR)
    bad[10] = np.nan
    sf.write(tmp_path / "nan.wav", bad, SR, subtype="FLOAT")
    cases["non-finite"] = (tmp_path / "nan.wav", "non-finite samples")
    return cases


def test_every_bad_file_raises_audio_error_naming_file_and_cause(tmp_path):
    for name, (path, cause) in _bad_files(tmp_path).items():
        with pytest.raises(AudioError) as err:
            audio.load(path)
        assert err.value.cause.startswith(cause), (name, err.value.cause)
        assert err.value.path == str(path) and str(path) in str(err.value), name
        assert "\n" not in str(err.value), name  # one line, for logs and the launch error line


def test_check_catches_truncation_without_decoding_everything(tmp_path):
    cases = _bad_files(tmp_path)
    for fmt in ("WAV", "AU", "AIFF", "FLAC", "OGG"):
        with pytest.raises(AudioError, match="truncated"):
            audio.check(cases[f"truncated {fmt}"][0])  # (FLAC/Ogg: "... or truncated")


def test_check_reports_the_header(tmp_path):
    path = tmp_path / "x.wav"
    sf.write(path, np.zeros((300, 2)), 44100)
    info = audio.check(path)
    assert (info.sample_rate, info.channels, info.frames, info.format) == (44100, 2, 300, "WAV")


def test_bad_sample_rate_argument(tmp_path):
    path = tmp_path / "x.wav"
    sf.write(path, np.zeros(300), SR)
    with pytest.raises(ValueError, match="sample_rate"):
        audio.load(path, sample_rate=0)
