"""Hostile audio input, round two (issue 15): cut Ogg streams, streamed WAV headers, symbolic link loops, empty
paths, and sample arrays of any layout and dtype. Each case gives one clear AudioError or a documented result
(the table in mgc_jax/data/audio.py's docstring)."""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest
import soundfile as sf

from mgc_jax.data import audio
from mgc_jax.errors import AudioError

SR = audio.SAMPLE_RATE


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
