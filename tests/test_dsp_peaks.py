"""dsp.peaks: the mirpeaks contrast picker against closed-form cases and a literal port of the mirpeaks loop."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from mirpeaks_oracle import contrast_peaks, reference_stft, two_tones

from dsp.peaks import peak_magnitude_blocks, peak_mask, spectral_peaks

FS = 22050


def _sets(mask: np.ndarray) -> list[list[int]]:
    return [np.flatnonzero(row).tolist() for row in np.asarray(mask).reshape(-1, mask.shape[-1])]


def _assert_same_sets(got: list[list[int]], want: list[list[int]]):
    bad = [i for i, (g, w) in enumerate(zip(got, want)) if g != w]
    assert not bad, f"{len(bad)} of {len(want)} frames differ, first {bad[0]}: got {got[bad[0]]}, oracle {want[bad[0]]}"


# --- closed-form cases -------------------------------------------------------------------------------------


@pytest.mark.parametrize("k1, k2", [(20, 25), (10, 13), (100, 104), (300, 306)])
def test_two_tones_give_exactly_their_two_bins(k1, k2):
    spec = reference_stft(two_tones(k1, k2)).astype(np.float32)
    idx, mask, overflow = spectral_peaks(jnp.asarray(spec), max_peaks=8)
    assert np.all(np.asarray(mask).sum(-1) == 2)
    np.testing.assert_array_equal(np.asarray(idx)[:, :2], np.broadcast_to([k1, k2], (len(spec), 2)))
    assert not np.asarray(overflow).any()


def test_one_tone_one_peak_and_silence_none():
    spec = reference_stft(two_tones(40, None)).astype(np.float32)
    assert _sets(peak_mask(jnp.asarray(spec))) == [[40]] * len(spec)
    silent = jnp.zeros((6, 513), jnp.float32)
    idx, mask, overflow = spectral_peaks(silent)
    assert not np.asarray(mask).any() and not np.asarray(overflow).any()
    assert not np.asarray(peak_mask(silent)).any()


def test_edge_bins_can_be_peaks():
    # The -inf padding at both ends makes a maximum at bin 0 or at the last bin a candidate.
    x = jnp.array([[1.0, 0.2, 0.0, 0.3, 0.9]])
    assert _sets(peak_mask(x)) == [[0, 4]]


def test_docstring_example_and_buffer_layout():
    x = jnp.array([[0.0, 1.0, 0.2, 0.5, 0.4]])
    idx, mask, overflow = spectral_peaks(x, max_peaks=4)
    assert idx.dtype == jnp.int32 and mask.dtype == jnp.bool_ and overflow.dtype == jnp.int32
    assert idx.tolist() == [[1, 3, 0, 0]] and mask.tolist() == [[True, True, False, False]]


def test_contrast_is_relative_to_the_whole_track():
    # Frame 1 alone would have a clear peak; against the track maximum in frame 0 it is below 1 %.
    spec = np.zeros((2, 9), np.float32)
    spec[0, 4] = 1000.0
    spec[1, [2, 6]] = 5.0  # 0.5 % of the track's max - min
    assert _sets(peak_mask(jnp.asarray(spec))) == [[4], []]
    assert _sets(peak_mask(jnp.asarray(spec[1:]))) == [[2, 6]]


def test_invariant_to_offset_and_scale_like_the_normalisation():
    # D = (X - min) / (max - min) ignores offset and scale; dyadic values keep X - 4 and 8 X exact, and the
    # negative offset exercises the shift that lets the candidate flag ride on the sign.
    spec = _dyadic_spectra(np.random.default_rng(5), 200, 33, 16)
    want = _sets(peak_mask(jnp.asarray(spec), contrast=1 / 16))
    assert sum(map(len, want)) > 500
    for moved in (spec - 4.0, spec * 8.0):
        assert _sets(peak_mask(jnp.asarray(moved), contrast=1 / 16)) == want


# --- against the literal port of the mirpeaks loop ---------------------------------------------------------


def _dyadic_spectra(rng, n_frames, n_bins, levels):
    """Values k / levels with min 0 and max 1, so D = X exactly: ties, plateaus, exact contrast distances."""
    x = rng.integers(0, levels + 1, size=(n_frames, n_bins)).astype(np.float32) / levels
    x[0, 0], x[0, 1] = 0.0, 1.0
    return x


@pytest.mark.parametrize(
    "levels, n_bins, contrast, select_first",
    [
        (8, 9, 0.125, 0.0),  # coarse: many ties, plateaus and notches of exactly the contrast
        (8, 9, 0.25, 0.0),
        (64, 33, 0.0625, 0.0),
        (64, 33, 0.0625, 0.03125),  # SelectFirst > 0 exercises the merge branch
        (4, 17, 0.25, 0.25),
        (1024, 513, 0.01, 0.0),  # the roughness setting on full-size columns
    ],
)
def test_matches_oracle_on_random_spectra(levels, n_bins, contrast, select_first):
    rng = np.random.default_rng(levels * 1000 + n_bins)
    spec = _dyadic_spectra(rng, 600 if n_bins > 100 else 3000, n_bins, levels)
    got = peak_mask(jnp.asarray(spec), contrast=contrast, select_first=select_first)
    _assert_same_sets(_sets(got), contrast_peaks(spec, contrast, select_first))


def test_matches_oracle_on_continuous_random_spectra():
    rng = np.random.default_rng(7)
    # Rayleigh magnitudes like a noise spectrum, plus a spiky track whose maximum dwarfs most frames.
    noise = rng.rayleigh(size=(400, 513)).astype(np.float32)
    spiky = (rng.random((400, 513)) ** 8 * 100).astype(np.float32)
    for spec in (noise, spiky):
        _assert_same_sets(_sets(peak_mask(jnp.asarray(spec))), contrast_peaks(spec, 0.01))


def test_matches_oracle_on_real_gtzan_frames(dev_spectra):
    for clip, spec in dev_spectra.items():
        spec = spec.astype(np.float32)
        got = _sets(peak_mask(jnp.asarray(spec)))
        _assert_same_sets(got, contrast_peaks(spec, 0.01))
        # spectral_peaks lists the same sets; no real frame comes near the 128-peak buffer.
        idx, mask, overflow = (np.asarray(a) for a in spectral_peaks(jnp.asarray(spec), max_peaks=128))
        assert not overflow.any(), clip
        assert [row[m].tolist() for row, m in zip(idx, mask)] == got, clip


# --- the fixed-size buffer ---------------------------------------------------------------------------------


def _largest_in_bin_order(spec_row, bins, p):
    order = sorted(bins, key=lambda b: (-spec_row[b], b))  # magnitude descending, lower bin first on ties
    return sorted(order[:p])


def test_overflow_keeps_the_largest_peaks_in_bin_order():
    rng = np.random.default_rng(3)
    spec = _dyadic_spectra(rng, 500, 65, 16)  # coarse levels: ties at the P-th largest magnitude are common
    p = 6
    want_sets = contrast_peaks(spec, 1 / 16)
    idx, mask, overflow = (np.asarray(a) for a in spectral_peaks(jnp.asarray(spec), contrast=1 / 16, max_peaks=p))
    assert (overflow > 0).sum() > 100  # the case is really exercised
    for t, want in enumerate(want_sets):
        assert overflow[t] == max(len(want) - p, 0)
        assert idx[t][mask[t]].tolist() == _largest_in_bin_order(spec[t], want, p)
        assert not idx[t][~mask[t]].any()


def test_buffer_larger_than_the_column():
    x = jnp.array([[0.0, 1.0, 0.2, 0.5, 0.4]])
    idx, mask, overflow = spectral_peaks(x, max_peaks=9)
    assert idx.shape == (1, 9) and mask.tolist() == [[True, True] + [False] * 7]


def test_max_peaks_must_be_static():
    with pytest.raises(ValueError, match="max_peaks"):
        spectral_peaks(jnp.ones((2, 5)), max_peaks=0)


# --- transforms --------------------------------------------------------------------------------------------


def _tracks(n=3, t=40, bins=65, seed=0):
    rng = np.random.default_rng(seed)
    return jnp.asarray((rng.random((n, t, bins)) ** 4 * rng.uniform(1, 100, (n, 1, 1))).astype(np.float32))


def test_jit_equals_eager():
    # The public functions are jitted; disable_jit runs the same code op by op (scans as Python loops).
    x = _tracks(t=6, bins=17)[0]
    with jax.disable_jit():
        eager = (*spectral_peaks(x, max_peaks=2), peak_mask(x))
    jitted = (*spectral_peaks(x, max_peaks=2), peak_mask(x))
    assert np.asarray(eager[2]).any()  # the overflow branch ran too
    for a, b in zip(jitted, eager):
        np.testing.assert_array_equal(a, b)


def test_vmap_and_batch_equal_the_loop():
    xs = _tracks()
    loop = [spectral_peaks(x, max_peaks=16) for x in xs]
    for batched in (jax.vmap(lambda x: spectral_peaks(x, max_peaks=16))(xs), spectral_peaks(xs, max_peaks=16)):
        for i, one in enumerate(loop):
            for a, b in zip(batched, one):
                np.testing.assert_array_equal(a[i], b)
    np.testing.assert_array_equal(jax.vmap(peak_mask)(xs), np.stack([peak_mask(x) for x in xs]))
    # vmap hands the batch to the kernels as a leading axis (custom_vmap): other axes and nesting too.
    np.testing.assert_array_equal(jax.vmap(peak_mask, in_axes=1, out_axes=1)(xs.swapaxes(0, 1)).swapaxes(0, 1), peak_mask(xs))
    pairs = xs.reshape(3, 1, *xs.shape[1:])
    np.testing.assert_array_equal(jax.vmap(jax.vmap(peak_mask))(pairs)[:, 0], peak_mask(xs))
    # Tracks are normalised one by one: scaling one track changes nothing in it or the others.
    scaled = xs.at[1].multiply(1000.0)
    np.testing.assert_array_equal(peak_mask(scaled), peak_mask(xs))


@pytest.mark.parametrize("edges", [(0, 65), (0, 16, 17, 40, 65)])
def test_magnitude_blocks_match_the_mask(edges):
    xs = _tracks()
    blocks = peak_magnitude_blocks(xs, edges=edges)
    assert [b.shape[0] for b in blocks] == [hi - lo for lo, hi in zip(edges[:-1], edges[1:])]
    want = np.where(peak_mask(xs), xs, 0).reshape(-1, xs.shape[-1]).T
    np.testing.assert_array_equal(np.concatenate(blocks, axis=0), want)

