"""mgc_jax.data.audio: reading, mono mixdown, resampling, sample arrays of any layout and dtype, and one AudioError
cause per kind of bad file (cut Ogg streams, streamed WAV headers, symbolic link loops, empty paths included)."""
from __future__ import annotations

import os
import re
import sys

import bad_audio
import numpy as np
import pytest
import soundfile as sf
import soxr
from bad_audio import CASES, DC_LEVEL, HEADER, LENGTH, LSB16, REFUSED, N, tone
from encoded_audio import FORMATS, encode, lame_header_samples
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


def _tone(n: int = 5 * SR) -> np.ndarray:
    t = np.arange(n) / SR
    return (0.3 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)


@pytest.fixture(scope="module")
def ogg_bytes(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("ogg") / "whole.ogg"
    sf.write(path, _tone(), SR, format="OGG", subtype="VORBIS")
    return path.read_bytes()


def test_a_whole_ogg_file_loads(ogg_bytes, tmp_path):
    path = tmp_path / "whole.ogg"
    path.write_bytes(ogg_bytes)
    assert audio.load(path).shape == (5 * SR,)


@pytest.mark.parametrize("percent", [50, 75, 80, 85, 90, 95, 99])
def test_an_ogg_file_cut_anywhere_is_refused(ogg_bytes, tmp_path, percent):
    path = tmp_path / f"cut{percent}.ogg"
    path.write_bytes(ogg_bytes[: len(ogg_bytes) * percent // 100])
    with pytest.raises(AudioError, match="truncated") as e:
        audio.load(path)
    assert str(path) in str(e.value)
    with pytest.raises(AudioError, match="truncated"):
        audio.check(path)


def test_an_ogg_file_cut_after_its_last_whole_page_is_refused(ogg_bytes, tmp_path):
    # Cut exactly at a page boundary: every page present is whole, but the end-of-stream page is missing.
    last = ogg_bytes.rfind(b"OggS")
    path = tmp_path / "no_eos.ogg"
    path.write_bytes(ogg_bytes[:last])
    with pytest.raises(AudioError, match="truncated: the Ogg stream ends without its end-of-stream page"):
        audio.load(path)


def test_a_streamed_wav_header_is_read_to_the_end_of_the_file(tmp_path):
    x = _tone()
    path = tmp_path / "streamed.wav"
    sf.write(path, x, SR, subtype="PCM_16")
    raw = bytearray(path.read_bytes())
    raw[4:8] = b"\xff\xff\xff\xff"  # RIFF size unknown
    data = raw.find(b"data")
    raw[data + 4:data + 8] = b"\xff\xff\xff\xff"  # data size unknown
    path.write_bytes(bytes(raw))
    y = audio.load(path)
    np.testing.assert_allclose(y, x, atol=1 / 32768)


def test_a_really_truncated_wav_is_still_refused(tmp_path):
    path = tmp_path / "cut.wav"
    sf.write(path, _tone(), SR, subtype="PCM_16")
    path.write_bytes(path.read_bytes()[:60000])
    with pytest.raises(AudioError, match="truncated: the header declares"):
        audio.load(path)


def test_symbolic_link_loop_and_dangling_link_are_named(tmp_path):
    a, b = tmp_path / "a.wav", tmp_path / "b.wav"
    os.symlink(b, a)
    os.symlink(a, b)
    with pytest.raises(AudioError, match="symbolic link loop"):
        audio.load(a)
    dangling = tmp_path / "gone.wav"
    os.symlink(tmp_path / "deleted.wav", dangling)
    with pytest.raises(AudioError, match=r"dangling symbolic link \(-> .*deleted.wav\)"):
        audio.check(dangling)
    with pytest.raises(AudioError, match="no such file"):
        audio.load(tmp_path / "never.wav")


def test_an_empty_path_is_named_as_such():
    for empty in ("", b""):
        with pytest.raises((AudioError, TypeError)) as e:
            audio.load(empty)
        if isinstance(e.value, AudioError):
            assert "empty path" in str(e.value)
    with pytest.raises(AudioError, match="empty path"):
        audio.check("")


def test_arrays_channels_last_and_channels_first_give_the_same_mono():
    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal((2, 20000))).astype(np.float32)
    mono = x.mean(axis=0)
    np.testing.assert_allclose(audio.from_array(x), mono, atol=1e-7)
    np.testing.assert_allclose(audio.from_array(x.T), mono, atol=1e-7)
    np.testing.assert_allclose(audio.from_array(list(mono[:3000])), mono[:3000], atol=1e-7)


def test_integer_pcm_arrays_are_scaled_as_soundfile_reads_them(tmp_path):
    k = np.array([0, 1, -1, 16384, -32768, 32767], np.int16)
    path = tmp_path / "pcm16.wav"
    sf.write(path, k, SR, subtype="PCM_16")
    np.testing.assert_array_equal(audio.from_array(k), sf.read(path, dtype="float32")[0])
    np.testing.assert_allclose(audio.from_array(np.array([0, 128, 255], np.uint8)), [-1.0, 0.0, 127 / 128])
    np.testing.assert_allclose(audio.from_array(np.array([2 ** 30], np.int32)), [0.5])


@pytest.mark.parametrize("bad, cause", [
    (np.ones(100, bool), "samples must be real numbers"),
    (np.ones(100, complex), "samples must be real numbers"),
    (np.array(["a", "b"]), "samples must be real numbers"),
    (np.ones(100, np.int64), "unsupported integer sample type int64"),
    (np.ones((200, 300)), "ambiguous 2-D samples of shape (200, 300)"),
    (np.ones((2, 3, 100)), "expected samples [n], [n, channels] or [channels, n]"),
    (np.zeros(0), "no audio samples"),
    (np.array([0.0, np.nan, 0.0]), "non-finite samples (1 NaN, 0 Inf; first at sample 1)"),
    (np.array([0.0, 0.0, np.inf]), "non-finite samples (0 NaN, 1 Inf; first at sample 2)"),
    (np.array([0.0, 1e20]), "sample values out of range"),
])
def test_bad_arrays_are_refused_with_one_clear_line(bad, cause):
    with pytest.raises(AudioError) as e:
        audio.from_array(bad, name="take.npy")
    assert str(e.value).startswith("take.npy: ")
    assert cause in str(e.value)
    assert "\n" not in str(e.value)


def test_from_array_resamples_to_the_feature_rate():
    x = np.sin(2 * np.pi * 440 * np.arange(44100) / 44100)
    y = audio.from_array(x, sample_rate=44100)
    assert y.dtype == np.float32 and abs(y.size - SR) <= 1


@pytest.mark.parametrize("content", [b"hello " * 1000, b"ID3" + bytes(range(256)) * 400], ids=["text", "bad-id3"])
def test_a_fake_mp3_is_one_error_with_no_decoder_chatter(tmp_path, capfd, content):
    """libmpg123 prints "Note: Trying to resync..." (and the like) on descriptor 2 for a damaged MP3; a corpus scan
    shows the file's AudioError alone."""
    path = tmp_path / "song.mp3"
    path.write_bytes(content)
    for read in (audio.check, audio.load):
        with pytest.raises(AudioError, match="not an audio file"):
            read(path)
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    print("descriptor 2 restored", file=sys.stderr)
    assert capfd.readouterr().err == "descriptor 2 restored\n"


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


@pytest.mark.parametrize("name", list(CASES))
def test_check_and_load(name, bad_corpus):
    _, paths = bad_corpus
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


# ------------------------------------------------------------------- compressed formats (FFmpeg), issue 24

RATE = 44100


def _music(seconds: float = 4.0, rate: int = RATE, *, stereo: bool = True) -> np.ndarray:
    """float64 [n, 2] (or [n]): harmonics under an envelope plus noise, a different tone per channel."""
    n = int(seconds * rate)
    left = tone(n, rate=rate, seed=1)
    return np.stack([left, tone(n, rate=rate, freq=330.0, seed=2)], 1) if stereo else left


def _aligned_correlation(x: np.ndarray, ref: np.ndarray, max_lag: int = 1024) -> tuple[float, int]:
    """(best correlation coefficient, its lag in samples) of x against ref over lags within +-max_lag."""
    n = min(x.size, ref.size) - 2 * max_lag
    best = (-1.0, 0)
    for lag in range(-max_lag, max_lag + 1, 1):
        a, b = x[max_lag + lag:max_lag + lag + n], ref[max_lag:max_lag + n]
        best = max(best, (float(np.corrcoef(a, b)[0, 1]), lag))
        if lag % 64 == 0 and best[0] > 0.999:  # the aligned lag is found; no need to scan the rest
            break
    return best


def test_m4a_aac_and_alac_decode_like_the_wav_they_were_made_from(tmp_path):
    x = _music()
    wav = tmp_path / "song.wav"
    sf.write(wav, x, RATE, subtype="PCM_16")
    ref = audio.decode(wav)
    assert ref.decoder == "libsndfile" and ref.warnings == ()
    for name, codec in (("aac.m4a", "aac"), ("alac.m4a", "alac")):
        d = audio.decode(encode(tmp_path / name, x, RATE, codec, "mp4"))
        assert (d.decoder, d.source_rate, d.channels) == ("ffmpeg", RATE, 2), name
        # The MP4 edit list and sample table trim the encoder's priming and padding: the source length exactly.
        assert d.frames == len(x) and d.samples.size == ref.samples.size, name
        corr, lag = _aligned_correlation(d.samples, ref.samples, max_lag=256)
        assert corr > 0.99 and lag == 0, (name, corr, lag)
        assert d.warnings == (), name
    # ALAC is lossless: the same 16-bit samples as the WAV, up to float->int16 rounding (swr vs libsndfile).
    alac = audio.decode(tmp_path / "alac.m4a")
    np.testing.assert_allclose(alac.samples, ref.samples, atol=3 / 32768)


@pytest.mark.parametrize("n", [2 * RATE + 777, 12345])
def test_a_gapless_mp3_decodes_to_the_length_its_lame_header_declares(tmp_path, n):
    x = 0.5 * np.sin(2 * np.pi * 440.0 * np.arange(n) / RATE)
    path = encode(tmp_path / "sine.mp3", x, RATE, "libmp3lame", "mp3")
    assert lame_header_samples(path) == n  # frames x 1152 - encoder delay - padding
    d = audio.decode(path, RATE)
    assert d.frames == n and d.samples.size == n and d.decoder == "ffmpeg"
    # Delay trimmed, not only counted: the decoded sine lines up with the source sample for sample.
    corr, lag = _aligned_correlation(d.samples, x, max_lag=64)
    assert corr > 0.99 and lag == 0
    assert not audio.check(path).frames_exact  # a probe reports MP3 lengths as estimates


@pytest.mark.parametrize("xing", ["1", "0"], ids=["xing", "no-xing"])
def test_a_cut_mp3_is_refused_and_a_whole_one_is_not(tmp_path, xing):
    path = encode(tmp_path / "whole.mp3", _music(5.0), RATE, "libmp3lame", "mp3", options={"write_xing": xing})
    assert audio.decode(path).frames == 5 * RATE if xing == "1" else audio.decode(path).frames >= 5 * RATE
    audio.check(path)
    data = path.read_bytes()
    for percent in (50, 70, 93):
        cut = tmp_path / f"cut{percent}.mp3"
        cut.write_bytes(data[: len(data) * percent // 100])
        for read in (audio.check, audio.decode):
            with pytest.raises(AudioError, match=r"truncated: the last MP3 frame is cut \(\d+ of its \d+ bytes\)"):
                read(cut)


@pytest.mark.parametrize("faststart", [True, False], ids=["index-first", "index-last"])
def test_a_cut_m4a_is_refused(tmp_path, faststart):
    opts = {"movflags": "faststart"} if faststart else None
    path = encode(tmp_path / "whole.m4a", _music(5.0), RATE, "aac", "mp4", options=opts)
    data = path.read_bytes()
    cut = tmp_path / "cut.m4a"
    cut.write_bytes(data[: len(data) * 70 // 100])
    # Index first: the packets past the cut are missing ("truncated ..."); index last: the index itself is gone.
    with pytest.raises(AudioError, match="truncated" if faststart else r"not an audio file, or a damaged one "
                                                                       r"\(FFmpeg's mov reader: moov atom not found\)"):
        audio.decode(cut)


@pytest.mark.parametrize("suffix", ["opus", "opus.mp4", "wma"])
def test_other_ffmpeg_formats_decode(tmp_path, suffix):
    container, codec, rate = FORMATS[suffix]
    rate = rate or RATE
    x = _music(3.0, rate)
    d = audio.decode(encode(tmp_path / f"song.{suffix}", x, rate, codec, container))
    ref = audio.from_array(x, sample_rate=rate)
    assert d.decoder == "ffmpeg" and d.source_rate == rate and d.channels == 2
    # Opus trims its pre-skip and end padding exactly. WMA: ASF records no encoder delay, so the decoded audio
    # starts one 2048-sample frame late (1024 samples at 22,050 Hz), and FFmpeg's encoder drops the last
    # partial frame: a 46 ms shift, nothing a genre depends on.
    assert d.frames == len(x) if codec == "libopus" else len(x) - 2048 <= d.frames <= len(x)
    corr, lag = _aligned_correlation(d.samples, ref, max_lag=1100)
    assert corr > 0.99 and lag == (0 if codec == "libopus" else -1024), (corr, lag)


def test_every_audio_name_is_listed_once():
    assert {"mp3", "m4a", "mp4", "aac", "alac", "opus", "ogg", "wma", "flac", "wav", "aif", "aiff", "au"} <= \
        audio.AUDIO_EXTENSIONS


# ------------------------------------------------------------------- hostile rates and lengths, issue 26.1


def test_a_1_hz_header_is_refused_in_one_line_by_probe_decode_and_arrays(tmp_path):
    path = tmp_path / "one_hz.wav"
    sf.write(path, _music(1.0, stereo=False)[:20_000], 1, subtype="PCM_16")
    for read in (audio.check, audio.decode):
        with pytest.raises(AudioError, match=r"^.*one_hz.wav: sample rate 1 Hz cannot be audio \(accepted: "
                                             r"1000 to 1000000 Hz\): a damaged or hostile header$"):
            read(path)
    # Classifier.predict(x, sample_rate=1) goes through from_array -> resample: the same line, naming "<array>".
    for rate in (1, 999, 2_000_000):
        with pytest.raises(AudioError, match=f"<array>: sample rate {rate} Hz cannot be audio"):
            audio.from_array(np.zeros(50_000, np.float32), sample_rate=rate)
    for rate in (1000, 8000, 1_000_000):
        audio.from_array(np.zeros(50_000, np.float32), sample_rate=rate)


def test_a_length_beyond_the_limit_is_refused_before_decoding(tmp_path, monkeypatch):
    path = tmp_path / "long.wav"
    sf.write(path, _music(2.0, stereo=False), RATE, subtype="PCM_16")
    monkeypatch.setattr(audio, "MAX_DURATION_S", 1.0)
    for read in (audio.check, audio.decode):
        with pytest.raises(AudioError, match=r"long.wav: longer than the 0.000278 h limit \(0.000556 h or more\): "
                                             r"cut it into parts"):
            read(path)
    with pytest.raises(AudioError, match="longer than"):
        audio.from_array(np.zeros(3 * SR), sample_rate=SR)


def test_out_of_memory_is_a_per_file_audio_error(tmp_path, monkeypatch):
    path = tmp_path / "x.wav"
    sf.write(path, _music(1.0), RATE, subtype="PCM_16")

    def no_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(soxr, "ResampleStream", no_memory)
    with pytest.raises(AudioError, match="x.wav: out of memory decoding this file"):
        audio.decode(path)
    monkeypatch.setattr(soxr, "resample", no_memory)
    with pytest.raises(AudioError, match="out of memory resampling"):
        audio.from_array(np.zeros(50_000), sample_rate=RATE)


# ------------------------------------------------------------------- content warnings, issue 26.7


def _warnings_of(tmp_path, name, x, rate=RATE, subtype="PCM_16"):
    path = tmp_path / f"{name}.wav"
    sf.write(path, x, rate, subtype=subtype)
    return audio.decode(path).warnings


def test_ordinary_music_gives_no_warning(tmp_path):
    assert _warnings_of(tmp_path, "music", _music()) == ()
    assert _warnings_of(tmp_path, "quiet", 0.05 * _music()) == ()  # about -52 dBFS: quiet, not silent
    assert _warnings_of(tmp_path, "one_channel", _music() * [1, 0]) == ()  # 6 dB down in the mix, not cancelled


def test_contentless_audio_warns_once_per_problem(tmp_path):
    m = _music(stereo=False)
    antiphase = _warnings_of(tmp_path, "antiphase", np.stack([m, -m], 1))
    assert len(antiphase) == 2 and antiphase[0].startswith("silent: silence")
    assert antiphase[1].startswith("antiphase stereo: the mono mix is ")
    (dc,) = _warnings_of(tmp_path, "dc", np.full(RATE, 0.25))  # centred: the resampler's edge ringing alone
    assert re.fullmatch(r"silent: DC only \(mean 0.25\), centred level -\d+ dBFS", dc), dc
    assert _warnings_of(tmp_path, "zeros", np.zeros(RATE))[0].startswith("silent: silence")
    (low,) = _warnings_of(tmp_path, "8k", _music(4.0, 8000, stereo=False), rate=8000)
    assert low.startswith("band-limited: nothing above 4 kHz")
    # Stored at 44.1 kHz, but upsampled from 100 Hz: nothing above 50 Hz.
    upsampled = soxr.resample(np.random.default_rng(0).uniform(-0.5, 0.5, 400), 100, RATE)
    assert _warnings_of(tmp_path, "from100", upsampled)[0].startswith("band-limited")
    int_range = np.round(_music(stereo=False) / np.abs(_music(stereo=False)).max() * 32767)  # peak 32767
    (big,) = _warnings_of(tmp_path, "int_range", int_range, subtype="FLOAT")
    assert big == "float samples reach 3.28e+04 (full scale is 1): integer-range values stored as float? divide by 32768"


def test_warnings_reach_the_prediction(tmp_path):
    from mgc_jax.serve.inference import Prediction

    p = Prediction("a", 0, np.ones(1), (("a", 1.0),), {"a": 1}, np.ones((1, 1)), 1, 3.0, "vote", ("silent: x",))
    assert p.to_dict()["warnings"] == ["silent: x"]


# ------------------------------------------------------------------- real files (../shared)


@pytest.mark.slow
def test_every_emotify_dev_mp3_decodes_in_full(shared_dir):
    files = sorted((shared_dir / "emotify_dev").glob("*/*.mp3"))
    if not files:
        pytest.skip(f"no MP3 under {shared_dir / 'emotify_dev'}")
    assert len(files) == 100
    for path in files:
        info = audio.check(path)  # the probe: never fooled by libsndfile's estimated frame count
        d = audio.decode(path)
        # About 60 s (2,298 frames of 1,152 samples, no LAME header); classical/40.mp3 is a 35 s excerpt with a
        # LAME header (1,541,884 samples once its delay and padding are trimmed; libsndfile agrees).
        assert d.decoder == "ffmpeg" and d.source_rate == RATE and d.channels == 2, path
        assert 30.0 < d.duration_s < 61.0 and abs(info.frames - d.frames) < RATE, path
        assert abs(d.samples.size - d.frames * SR / RATE) <= 1 and d.warnings == (), (path, d.warnings)
