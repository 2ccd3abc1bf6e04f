"""dsp.features: the [T, 8] music map and the STFT map: assembly, edge signals, transforms, real MIRToolbox outputs."""
from __future__ import annotations

import dataclasses
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import soundfile as sf
from bad_audio import DC_LEVEL, LOADS
from padded_signals import (
    assert_close_per_column,
    chords_with_a_loud_end,
    kept,
    real_clip,
)

import dsp
from dsp.chroma import chroma_plan
from dsp.config import FEATURE_NAMES, ConfigError, FeatureConfig, n_frames
from dsp.features import (
    _music_with_counts,
    feature_maps,
    music_features,
    music_features_with_nan_counts,
    stft_features,
)
from dsp.framing import frame, stft_magnitude
from dsp.key import key_clarity, key_clarity_frames
from dsp.roughness import roughness
from dsp.spectral import (
    brightness,
    min_rms_trim,
    rms,
    spectral_entropy,
    spectral_flatness,
    zero_crossing_rate,
)
from dsp.tonal import hcdf
from mgc_jax.data import audio

CFG = FeatureConfig()
FS, L, H = CFG.sample_rate, CFG.frame_length, CFG.hop_length
COL = {name: i for i, name in enumerate(FEATURE_NAMES)}
TRIMMED = ("brightness", "flatness", "entropy")


SECONDS = 7.0  # one signal length for most tests, so the jitted map compiles once for them


def _music(seconds: float = SECONDS, seed: int = 0) -> np.ndarray:
    """A few seconds of 'music': a chord that changes every second, over soft noise (float32)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * FS)) / FS
    roots = 220.0 * 2 ** (rng.integers(0, 12, size=int(np.ceil(seconds))) / 12)
    f0 = roots[(t // 1).astype(int)]
    chord = sum(np.sin(2 * np.pi * f0 * r * t) / (i + 1) for i, r in enumerate((1, 1.26, 1.5, 2)))
    return (0.25 * chord + 0.02 * rng.standard_normal(t.size)).astype(np.float32)


# --- assembly ----------------------------------------------------------------------------------------------


def test_columns_are_the_kernels_in_feature_names_order():
    x = _music()
    got, counts = music_features_with_nan_counts(x, CFG)
    frames, spec = frame(x, CFG), stft_magnitude(x, CFG)
    t = n_frames(len(x), CFG)
    want = {
        "rms": rms(frames),
        "zcr": zero_crossing_rate(frames, sample_rate=FS),
        "brightness": min_rms_trim(brightness(spec, sample_rate=FS, n_fft=CFG.n_fft, cutoff_hz=1500.0), spec,
                                   threshold=0.005)[0],
        "flatness": min_rms_trim(spectral_flatness(spec), spec, threshold=0.01)[0],
        "entropy": min_rms_trim(spectral_entropy(spec), spec, threshold=0.005)[0],
        "roughness": roughness(spec, CFG),
        "key_clarity": key_clarity_frames(key_clarity(x, CFG), t, CFG),
        "hcdf": hcdf(x, CFG),
    }
    assert got.shape == (t, 8) and got.dtype == jnp.float32
    assert counts.shape == (8,) and counts.dtype == jnp.int32 and not np.asarray(counts).any()
    for name, values in want.items():
        # One program vs separate ones: XLA may fuse and reassociate float32 reductions differently.
        np.testing.assert_allclose(got[:, COL[name]], values, rtol=2e-6, atol=1e-7, err_msg=name)
    assert float(got[0, COL["hcdf"]]) == 0.0  # HCDF[0] = 0 by definition
    np.testing.assert_array_equal(music_features(x, CFG), got)


def test_stft_features_is_stft_magnitude():
    x = _music(2.0)
    np.testing.assert_array_equal(stft_features(x, CFG), stft_magnitude(x, CFG))
    assert stft_features(x, CFG).shape == (n_frames(len(x), CFG), 513)


def test_quiet_frames_are_zeroed_and_counted_per_column():
    x = _music()
    quiet = slice(int(2.0 * FS), int(4.0 * FS))
    x[quiet] *= 0.003  # 50 dB down: below .005 and .01 of the loudest spectral RMS
    got, counts = music_features_with_nan_counts(x, CFG)
    inside = np.array([(t * H >= quiet.start) and (t * H + L <= quiet.stop) for t in range(len(got))])
    assert inside.sum() > 50
    for name in TRIMMED:
        col = np.asarray(got[:, COL[name]])
        assert not col[inside].any(), name
        assert np.all(col[~inside] > 0), name  # only the quiet frames (frames straddling the edge are loud enough)
        assert int(counts[COL[name]]) == inside.sum(), name
    for name in ("rms", "zcr", "roughness", "key_clarity", "hcdf"):
        assert int(counts[COL[name]]) == 0, name  # no MinRMS trim on these


@pytest.mark.parametrize("name, make", [
    ("silence", lambda n: np.zeros(n, np.float32)),
    ("dc", lambda n: np.full(n, 0.5, np.float32)),
    ("clipped square", lambda n: np.sign(np.sin(2 * np.pi * 220.0 * np.arange(n) / FS)).astype(np.float32)),
    ("full-scale clipped music", lambda n: np.clip(40.0 * _music(n / FS), -1, 1)),
    ("one impulse", lambda n: np.eye(1, n, n // 2, dtype=np.float32)[0]),
])
def test_edge_signals_give_finite_maps(name, make):
    x = make(int(SECONDS * FS))
    got, counts = music_features_with_nan_counts(x, CFG)
    assert np.all(np.isfinite(got)), name
    assert np.all(np.asarray(counts) >= 0) and np.all(np.asarray(counts) <= len(got))
    if name == "silence":
        assert not np.asarray(got).any()
        # Silent frames have no spectral shape: every frame of the three trimmed columns is counted.
        np.testing.assert_array_equal(np.asarray(counts)[[COL[n] for n in TRIMMED]], len(got))


@pytest.mark.parametrize("n", [0, 100, L - 1])
def test_short_signal_raises_naming_sizes(n):
    with pytest.raises(ConfigError, match=rf"{n} samples"):
        music_features(np.zeros(n, np.float32), CFG)
    with pytest.raises(ConfigError, match=rf"{n} samples"):
        stft_features(np.zeros(n, np.float32), CFG)


def test_batch_input_is_refused_with_a_pointer_to_vmap():
    with pytest.raises(ConfigError, match="vmap"):
        music_features(np.zeros((2, 3 * L), np.float32), CFG)


# --- transform invariants ----------------------------------------------------------------------------------


def test_vmap_over_8_tracks_equals_the_loop():
    xs = np.stack([_music(seed=s) for s in range(8)])
    xs[3] = 0.0  # a silent track in the batch must not disturb the others (track-global maxima)
    loop = [music_features_with_nan_counts(x, CFG) for x in xs]
    batched, counts = jax.vmap(music_features_with_nan_counts, in_axes=(0, None))(xs, CFG)
    np.testing.assert_array_equal(counts, np.stack([c for _, c in loop]))
    loop = np.stack([np.asarray(m) for m, _ in loop])
    # Issue 2's criterion: max abs diff <= 1e-5 relative to each feature's scale (its largest magnitude). The
    # batching rule runs the same per-track program in a loop, so it is in fact exact today.
    scale = np.abs(loop).max(axis=(0, 1))
    np.testing.assert_array_less(np.abs(np.asarray(batched) - loop).max(axis=(0, 1)), 1e-5 * scale + 1e-30)
    stft = jax.vmap(stft_features, in_axes=(0, None))(xs, CFG)
    np.testing.assert_array_equal(stft[5], stft_features(xs[5], CFG))


def test_feature_maps_equal_the_two_maps_and_share_one_fft():
    xs = np.stack([_music(seed=s) for s in (1, 2)])
    both = jax.jit(jax.vmap(feature_maps, in_axes=(0, None)), static_argnums=1)
    maps = both(xs, CFG)
    music, counts, stft = maps["music"], maps["music_nan_counts"], maps["stft"]
    for i, x in enumerate(xs):
        m, c = music_features_with_nan_counts(x, CFG)
        # Separate programs: XLA may fuse float32 reductions differently, a few ulps.
        np.testing.assert_allclose(music[i], m, rtol=2e-6, atol=1e-7)
        np.testing.assert_array_equal(counts[i], c)
        np.testing.assert_allclose(stft[i], stft_features(x, CFG), rtol=1e-6, atol=1e-6)
    hlo = both.lower(xs, CFG).compile().as_text()
    fft_sizes = sorted(re.findall(r" fft\(.*fft_length=\{(\d+)\}", hlo))
    # One 1024-point FFT shared by the STFT map, the spectral features, roughness and HCDF; one for the 6 s windows.
    key_fft = chroma_plan(CFG.key_window_length, FS, CFG.chroma_scale).n_fft  # 262144
    assert sorted(map(int, fft_sizes)) == [CFG.n_fft, key_fft], fft_sizes


def test_jit_equals_op_by_op_assembly():
    x = _music(seed=5)
    jitted = np.asarray(music_features(x, CFG))
    # The un-jitted body: the assembly runs op by op (the kernels it calls keep their own jit, and have their own
    # jit == eager tests); fully eager is the slow test below.
    eager = np.asarray(_music_with_counts.__wrapped__(jnp.asarray(x), CFG)[0])  # the jitted body of the map
    # Separate programs may fuse and round float32 reductions differently: a few ulps of each column's scale.
    scale = np.abs(eager).max(axis=0)
    np.testing.assert_array_less(np.abs(jitted - eager).max(axis=0), 1e-5 * scale + 1e-30)


@pytest.mark.slow
def test_jit_equals_fully_eager():
    x = _music(1.5, seed=6)
    jitted = np.asarray(music_features(x, CFG))
    with jax.disable_jit():  # ~25 s: the peak picker's lax.scan over 513 bins runs as a Python loop
        eager = np.asarray(music_features(x, CFG))
    # Op-by-op float32 rounding differs from fused code: a few ulps of each column's scale.
    scale = np.abs(eager).max(axis=0)
    np.testing.assert_array_less(np.abs(jitted - eager).max(axis=0), 1e-5 * scale + 1e-30)


# --- real MIRToolbox outputs -------------------------------------------------------------------------------


def _rel(got, want):
    both_zero = (got == 0) & (want == 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(both_zero, 0.0, np.abs(got - want) / np.abs(want))


def _window_frames(n_windows: int, t: int) -> np.ndarray:
    """For each key window, one frame whose nearest window centre is that window (the frame at its centre)."""
    centre = (CFG.key_window_length // 2 + np.arange(n_windows) * CFG.key_hop_length - L // 2) // H
    return np.clip(centre, 0, t - 1)


# Suffixes of the MIRToolbox outputs each chroma_scale must match (golden README; docs/features.md §6.9).
TONAL_GOLDEN = {"db20": ("keyclarity6s_v162", "hcdf_v162"), "linear": ("keyclarity6s", "hcdf")}


@pytest.mark.parametrize("scale", ["db20", pytest.param("linear", marks=pytest.mark.slow)])
def test_all_eight_columns_against_mirtoolbox(scale, gtzan_dev_clips, golden):
    cfg = dataclasses.replace(CFG, chroma_scale=scale)
    kc_file, hcdf_file = TONAL_GOLDEN[scale]
    failures = []
    for path in gtzan_dev_clips:
        x, fs = sf.read(path, dtype="float32")
        assert fs == FS
        got, counts = music_features_with_nan_counts(x, cfg)
        got = np.asarray(got, np.float64)
        clip = path.stem
        assert not np.asarray(counts).any(), (clip, counts)  # MIRToolbox has no NaN on these clips either
        # Issue 2's targets. Simple features: float32 rounding; the rest per docs/features.md §6.
        for name, suffix in [("rms", "rms"), ("zcr", "zerocross"), ("brightness", "brightness"),
                             ("flatness", "flatness"), ("entropy", "entropy")]:
            rel = _rel(got[:, COL[name]], golden(clip, suffix)[:, 2])
            if not (np.median(rel) <= 1e-5 and rel.max() <= 1e-3):
                failures.append(f"{clip} {name}: median {np.median(rel):.2e} max {rel.max():.2e}")
        rel = _rel(got[:, COL["roughness"]], golden(clip, "roughness_v162")[:, 2])
        if not (np.median(rel) <= 1e-3 and np.mean(rel <= 1e-2) >= 0.99):
            failures.append(f"{clip} roughness: median {np.median(rel):.2e}, {np.mean(rel <= 1e-2):.1%} within 1e-2")
        kc = golden(clip, kc_file)[:, 2]
        ours = got[_window_frames(len(kc), len(got)), COL["key_clarity"]]
        if np.mean(np.abs(ours - kc) <= 1e-3) < 0.95:
            failures.append(f"{clip} key clarity: max abs err {np.abs(ours - kc).max():.2e}")
        want = golden(clip, hcdf_file)[:, 2]  # frames 1..T-1: MIRToolbox's flux has no first row
        rel = _rel(got[1:, COL["hcdf"]], want)
        if len(want) != len(got) - 1 or np.median(rel) > 1e-3:
            failures.append(f"{clip} hcdf: {len(want)} rows for {len(got)} frames, median {np.median(rel):.2e}")
    assert not failures, "\n".join(failures)


def test_public_names_of_the_design_are_exported():
    """DESIGN.md's dsp names (issue 2) are importable from the package itself."""
    import dsp

    design = ("FeatureConfig FEATURE_NAMES frame stft_magnitude rms zero_crossing_rate brightness spectral_flatness "
              "spectral_entropy spectral_peaks sethares_dissonance roughness chromagram key_strengths key_clarity "
              "tonal_centroid hcdf music_features stft_features feature_maps").split()
    assert [n for n in design if n not in dsp.__all__] == []
    assert all(callable(getattr(dsp, n)) or n == "FEATURE_NAMES" for n in dsp.__all__ if n != "KEY_NAMES"
               and n != "GOMEZ_PROFILES")


@pytest.mark.parametrize("name", [c if c != "ten_minutes" else pytest.param(c, marks=pytest.mark.slow) for c in LOADS])
def test_feature_maps_of_what_loads(name, bad_corpus):
    """Every map is finite with T = 1 + (n - 1024) // 512 frames; the documented values of silence and DC."""
    x = audio.load(bad_corpus[1][name])
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


@pytest.mark.parametrize("source", ["real GTZAN clip", "loud end"])
def test_music_map_of_a_padded_signal_with_its_valid_length_equals_the_unpadded_one(source):
    import jax

    x = real_clip() if source == "real GTZAN clip" else chords_with_a_loud_end(kept(5), 1)
    if x is None:
        pytest.skip("no ../shared/gtzan_dev")
    t = dsp.n_frames(x.size, CFG)
    want = np.asarray(dsp.music_features(x, CFG))
    padded = np.zeros(kept(8), np.float32)
    padded[: x.size] = x
    got = np.asarray(jax.jit(lambda v, n: dsp.music_features(v, CFG, valid_length=n))(padded, np.int32(x.size)))
    assert_close_per_column(got[:t], want)
    unmasked = np.asarray(dsp.music_features(padded, CFG))[:t]  # without valid_length the padding leaks in
    key = dsp.FEATURE_NAMES.index("key_clarity")
    assert not np.allclose(unmasked[:, key], want[:, key], atol=1e-5)


def test_valid_length_equal_to_the_length_changes_nothing():
    x = chords_with_a_loud_end(kept(2) + 777, 2)
    np.testing.assert_array_equal(np.asarray(dsp.music_features(x, CFG, valid_length=x.size)),
                                  np.asarray(dsp.music_features(x, CFG)))
