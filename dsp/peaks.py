"""MIRToolbox `mirpeaks` contrast peak picking on a magnitude spectrogram, in JAX.

The picker behind `mirroughness`: `mirpeaks(X, 'Contrast', cthr)` with SelectFirst 0, Threshold 0,
Total Inf and track-global normalisation (docs/features.md §1.6, steps 1-3). The selection is sequential
over the bins of a frame, so it is a `jax.lax.scan` over bins whose every step is one vector operation over
all frames; no Python loop over frames or bins, no host round-trip.

Public:
    peak_mask(spec, *, contrast, select_first) -> bool [..., T, bins]       every selected peak (Total Inf)
    peak_magnitude_blocks(spec, *, edges, contrast, select_first, extent) -> [float32 [block, F]]   the same, bins
        first; `extent` (min, max) normalises a block of a long track as its whole track
    spectral_peaks(spec, *, contrast, max_peaks, select_first) -> (idx, mask, overflow)   fixed-size sets

How (and why it looks the way it does):
- Comparisons use raw magnitudes. D = (X - min) / (max - min) is increasing in X, so every comparison of
  D is the same comparison of X, and a contrast test D_a - D_b >= c is X_a - X_b >= c (max - min). This
  saves the normalisation pass and never creates ties that float32 rounding of D would create between
  distinct magnitudes (MIRToolbox normalises in float64, where they stay distinct).
- The candidate test (local maximum above the contrast floor) is elementwise and runs before the scan;
  its result travels in the sign of the scanned value (+x: candidate, -x: not; x >= 0), so each scan step
  reads one row.
- Scans run bins-first ([bins, frames]): each step is a vector op over every frame of every track given.
  There is no `unroll`: unrolling lets XLA fuse several steps into each carried output and recompute the
  chained state once per output, ~6x slower on CPU here.
- A store is decided at a later candidate's step but concerns the earlier, current candidate. Rather than
  scatter, the forward scan emits per bin "became the current candidate" and "the previous current one was
  stored here"; a reverse scan hands each current candidate the decision taken when it was replaced.
- Bins are handled in blocks of 128 (`block_edges`), each its own array, and a `vmap` over tracks is turned
  into leading axes (`vmap_as_leading_axis`): both measured faster on CPU, see there.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import custom_batching

from dsp.autodiff import differentiable_as
from dsp.signal import as_values


def vmap_as_leading_axis(fn, *static):
    """x -> fn(x, *static) for an `fn` that already maps over the leading axes of x; under `jax.vmap` it gets
    the batch as one more leading axis instead of having each of its ops batched.

    The kernels here scan over bins with every frame of every track as one vector, so a batch of tracks is
    just more frames; the default batching of scans and matrix products is slower (~1.3x for roughness)
    and would run `spectral_peaks`' overflow branch for every batch. `static` must be hashable.
    Differentiable: the JVP is that of `fn` itself (`dsp.autodiff.differentiable_as`).
    """
    return _leading_axis_wrapper(fn, static)


@functools.lru_cache(maxsize=64)
def _leading_axis_wrapper(fn, static):
    plain = lambda x: fn(x, *static)  # noqa: E731
    wrapped = custom_batching.custom_vmap(plain)

    @wrapped.def_vmap
    def _rule(axis_size, in_batched, x):  # x has the batch at axis 0
        out = wrapped(x)
        return out, jax.tree.map(lambda _: True, out)

    return differentiable_as(wrapped, plain)


BLOCK_BINS = 128  # bins per block of the bins-first arrays (4 blocks for 513 bins)


def block_edges(n_bins: int, block: int = BLOCK_BINS) -> tuple[int, ...]:
    """Static bin-block boundaries: multiples of `block`, the last block taking the remainder.

    (0, 128, 256, 384, 513) for 513 bins. Blocks let XLA transpose each block in one fused pass (a single
    [bins, F] block measured ~1.7x slower) and let `dsp.roughness` skip the zero blocks of its triangular
    kernel; aligned starts keep the transposes vectorised (blocks of 96 or 171 bins measured ~1.5x slower).
    """
    n_blocks = max(1, round(n_bins / block))
    return tuple(i * block for i in range(n_blocks)) + (n_bins,)


def _encode(spec: jax.Array, contrast, select_first, edges,
            extent=None) -> tuple[list[jax.Array], jax.Array, jax.Array]:
    """Candidates of §1.6 step 2 and the per-column thresholds, bins first, in blocks of bins.

    Args:
        spec: float32 [..., T, bins].
        edges: static increasing bin indices from 0 to bins; block b holds bins edges[b]:edges[b + 1].
        extent: None, or float32 [2] (min, max) to normalise by instead of spec's own (a block of a long track
            given its whole track's range: `dsp.features.TrackContext`).

    Returns:
        e: per block float32 [block bins, F] (F = frames of all tracks): x for a candidate, -x otherwise,
            where x is the magnitude shifted to be >= 0 (unchanged for a magnitude spectrogram);
        cthr, first float32 [F]: Contrast and SelectFirst in magnitude units, c * (max - min) of the track.

    A candidate is a local maximum of the column padded with -inf at both ends (a strict rise before it, a
    non-rise after it: mirpeaks compares neighbour differences with 0, which for finite floats is comparing
    the neighbours) with D >= contrast (and D >= 0, the Threshold, always true). A constant spectrogram
    (silence) has max == min: MIRToolbox divides 0 by 0 and finds no candidate; so does this.
    """
    assert edges[0] == 0 and edges[-1] == spec.shape[-1], edges
    if extent is None:
        lo = jnp.min(spec, axis=(-2, -1), keepdims=True)
        span = jnp.max(spec, axis=(-2, -1), keepdims=True) - lo
    else:
        lo = jnp.broadcast_to(extent[0], spec.shape[:-2] + (1, 1))
        span = jnp.broadcast_to(extent[1], spec.shape[:-2] + (1, 1)) - lo
    floor = jnp.where(span > 0, lo + contrast * span, jnp.inf)
    x = spec.reshape((-1,) + spec.shape[-2:])  # [tracks, T, bins]
    floor, span, lo = (v.reshape(-1, 1, 1) for v in (floor, span, lo))
    shift = jnp.minimum(lo, 0)
    ninf = jnp.full(x.shape[:-1] + (1,), -jnp.inf, x.dtype)
    n_bins = x.shape[-1]
    blocks = []
    for a, b in zip(edges[:-1], edges[1:]):
        # Each block reads its bins and one neighbour on each side straight from `spec`, so XLA fuses the
        # whole block into one pass (shared shifted copies of the spectrogram were materialised otherwise).
        xb = x[..., a:b]
        left = jnp.concatenate([ninf, x[..., : b - 1]], axis=-1) if a == 0 else x[..., a - 1 : b - 1]
        right = jnp.concatenate([x[..., a + 1 :], ninf], axis=-1) if b == n_bins else x[..., a + 1 : b + 1]
        cand = (xb >= floor) & (xb > left) & (right <= xb)
        # Shift to x >= 0 so the sign can carry the candidate flag; a candidate is then > 0, as it lies at
        # least contrast * span above the minimum.
        xs = xb - shift
        blocks.append(jnp.where(cand, xs, -xs).reshape(-1, b - a).T)
    per_frame = lambda v: jnp.broadcast_to(v, x.shape[:-1] + (1,)).reshape(-1)  # noqa: E731
    return blocks, per_frame(contrast * span), per_frame(select_first * span)


def _forward(e: list[jax.Array], cthr: jax.Array, first, *, first_is_zero: bool):
    """The mirpeaks contrast selection (§1.6 step 3) as a forward scan over the bins of every column.

    Args:
        e: `_encode`'s blocks, float32 [block bins, F] each; the scan runs through them in order.
        cthr, first: float32 [F] contrast and SelectFirst in magnitude units.
        first_is_zero: static; SelectFirst = 0 (mirroughness) allows a shorter step.

    Returns:
        events: per block int8 [block bins, F]: bit 0 "this candidate became the current one", bit 1 "the
            previous current one was stored at this step";
        last bool [F]: the current candidate after the last bin is stored.

    State per column: bufmax (height of the current candidate; -inf before the first), `gap` (the spec's
    min(bufmin, running minimum since the previous candidate); bufmin is only ever read through that min)
    and oldbufmin (-inf: the left padding). The padding bins are not scanned: the left one only makes the
    first oldbufmin -inf (its initial value), the right one only makes the last right-hand notch infinite.
    """
    f = e[0].shape[1]
    inf = jnp.full((f,), jnp.inf, e[0].dtype)

    def step(carry, ei):
        bufmax, gap, oldbufmin = carry
        ci = ei > 0
        xi = jnp.abs(ei)
        # Before the first candidate bufmax = -inf: "no notch", and the candidate is taken (x - (-inf) is
        # above any SelectFirst) with oldbufmin kept at -inf, the spec's initial state.
        notch = bufmax - gap >= cthr
        weak = bufmax - oldbufmin < cthr
        if first_is_zero:
            take = xi > bufmax
        else:
            take = (xi > bufmax) & ((xi - bufmax > first) | weak)
        new_cur = ci & (notch | take)
        stored = ci & notch & ~weak
        # Without a notch the candidate is taken or (SelectFirst >= 0) merged into bufmax, which moves it
        # only when SelectFirst > 0; both lower oldbufmin to the gap minimum. With a notch a stored
        # candidate restarts oldbufmin at that minimum, a dropped one lowers it.
        merged = bufmax if first_is_zero else jnp.where(ci, jnp.maximum(bufmax, xi), bufmax)
        bufmax = jnp.where(new_cur, xi, merged)
        oldbufmin = jnp.where(ci, jnp.where(stored, gap, jnp.minimum(oldbufmin, gap)), oldbufmin)
        gap = jnp.where(ci, jnp.where(new_cur, inf, gap), jnp.minimum(gap, xi))
        return (bufmax, gap, oldbufmin), new_cur.astype(jnp.int8) + 2 * stored.astype(jnp.int8)

    carry = (-inf, inf, -inf)
    events = []
    for block in e:
        carry, ev = jax.lax.scan(step, carry, block)
        events.append(ev)
    bufmax, _, oldbufmin = carry
    # The last current candidate is kept if its left notch reaches the contrast (bufmax > -inf: it exists).
    last = (bufmax > -jnp.inf) & (bufmax - oldbufmin >= cthr)
    return events, last


def _fates(events: list[jax.Array], last: jax.Array, values: list[jax.Array] | None = None) -> list[jax.Array]:
    """Reverse scan handing each current candidate its fate (stored or not): the peaks, bins first.

    Returns per block bool [block bins, F], or with `values` (blocks of float32 [block bins, F]) the value at
    each peak and 0 elsewhere, emitted by the scan itself (applying the mask afterwards made XLA recompute
    `_encode` in that pass).
    """

    def step(fate, xs):
        ev, v = xs
        became_current = (ev & 1) > 0
        peak = became_current & fate
        return jnp.where(became_current, (ev & 2) > 0, fate), peak if v is None else jnp.where(peak, v, 0)

    values = [None] * len(events) if values is None else values
    fate, out = last, []
    for ev, v in zip(events[::-1], values[::-1]):
        fate, block = jax.lax.scan(step, fate, (ev, v), reverse=True)
        out.append(block)
    return out[::-1]


def _select(spec: jax.Array, contrast, select_first, edges, extent=None):
    """Forward pass of the picker on float32 [..., T, bins]: (events, last) of `_forward`, e of `_encode`."""
    e, cthr, first = _encode(spec, contrast, select_first, edges, extent)
    first_is_zero = isinstance(select_first, (int, float)) and select_first == 0
    # Selection is discrete: under differentiation the mask is a constant (as for an argmax) and gradients reach
    # only the selected values through `e`; stopping them here also keeps the scans out of the JVP.
    sg = jax.lax.stop_gradient
    events, last = _forward([sg(b) for b in e], sg(cthr), sg(first), first_is_zero=first_is_zero)
    return events, last, e


@functools.partial(jax.jit, static_argnames=("edges", "contrast", "select_first"))
def peak_magnitude_blocks(
    spec: jax.Array, *, edges: tuple[int, ...], contrast: float = 0.01, select_first: float = 0.0, extent=None
) -> list[jax.Array]:
    """Magnitude at every selected peak (Total = Inf) and 0 elsewhere, bins first, in blocks of bins.

    Args:
        spec: float32 [..., T, bins] magnitude spectrogram (>= 0) of one whole track; see `peak_mask`.
        edges: static increasing bin indices from 0 to bins.
        extent: None, or float32 [2] (min, max) of the whole track when `spec` is a block of it (`_encode`).

    Returns:
        per block b, float32 [edges[b + 1] - edges[b], F], column f = frame f of `spec.reshape(-1, bins)`: the
        layout the picker's scans work in, handed on as is to bins-first consumers (`dsp.roughness`). Each
        block is its own array, written by its own scan: slicing one [bins, F] array afterwards costs copies.

    Supports jit, vmap and grad: the gradient flows through the magnitudes at the selected peaks; which bins are
    peaks is a discrete choice, held constant (zero gradient through the selection, as for an argmax).
    """
    events, last, e = _select(spec, contrast, select_first, edges, extent)
    return _fates(events, last, e)  # e = x at a candidate (x >= 0 is not shifted), and peaks are candidates


def peak_mask(spec: jax.Array, *, contrast: float = 0.01, select_first: float = 0.0) -> jax.Array:
    """Every peak that `mirpeaks(X, 'Contrast', contrast)` selects (Total = Inf), as a bin mask.

    Args:
        spec: float32 [..., T, bins] magnitude spectrogram of one whole track; leading axes are more tracks,
            each normalised on its own. The normalisation is track-global, so frames cut from a track can get
            other peaks than the same frames inside the whole track.
        contrast: mirpeaks 'Contrast', a fraction of the track's max - min magnitude.
        select_first: mirpeaks 'SelectFirst' (0 unless the option is named; mirroughness does not name it).

    Returns:
        bool [..., T, bins]. A constant spectrogram (silence) has no peak; two peaks are never adjacent.

    Supports jit and vmap; under grad / jvp the bool output has a zero (float0) tangent: a discrete selection.

    Examples:
        >>> x = jnp.array([[0.0, 1.0, 0.2, 0.5, 0.4]])
        >>> peak_mask(x).astype(int).tolist()
        [[0, 1, 0, 1, 0]]
    """
    return _peak_mask_jit(as_values(spec, name="peak_mask"), contrast=contrast, select_first=select_first)


@functools.partial(jax.jit, static_argnames=("contrast", "select_first"))
def _peak_mask_jit(spec: jax.Array, *, contrast, select_first) -> jax.Array:
    return vmap_as_leading_axis(_peak_mask, contrast, select_first)(spec)


def _peak_mask(spec: jax.Array, contrast, select_first) -> jax.Array:
    is_peak = jnp.concatenate(_fates(*_select(spec, contrast, select_first, block_edges(spec.shape[-1]))[:2]))
    # uint8: XLA's CPU transpose of a bool array followed by a reshape is several times slower.
    return is_peak.astype(jnp.uint8).T.reshape(spec.shape).astype(bool)


def spectral_peaks(
    spec: jax.Array, *, contrast: float = 0.01, max_peaks: int = 128, select_first: float = 0.0
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """MIRToolbox contrast peaks of each frame as a fixed-size, masked set in increasing bin order.

    Args:
        spec: float32 [..., T, bins] magnitude spectrogram of one whole track (see `peak_mask`); leading axes
            are more tracks (`jax.vmap` over tracks gives the same).
        contrast: mirpeaks 'Contrast' (FeatureConfig.roughness_contrast = 0.01 for roughness).
        max_peaks: static size P of the per-frame buffer (FeatureConfig.max_peaks).
        select_first: mirpeaks 'SelectFirst'.

    Returns:
        idx int32 [..., T, P]: peak bins, increasing along P for the valid entries, 0 elsewhere;
        mask bool [..., T, P]: valid entries (a prefix of each row);
        overflow int32 [..., T]: peaks dropped because the frame had more than P. Real GTZAN frames carry
            at most ~105 peaks, so 0 there; white noise can exceed 128. On overflow the P peaks of largest
            magnitude are kept (ties: the lower bin), those mirpeaks 'Total', P would keep, still listed in
            bin order.

    Supports jit and vmap; under grad / jvp every output (indices, mask, counts) has a zero (float0) tangent:
    the selection is discrete. Differentiate through the values `spec[..., idx]` instead.

    Examples:
        >>> x = jnp.array([[0.0, 1.0, 0.2, 0.5, 0.4]])
        >>> idx, mask, overflow = spectral_peaks(x, max_peaks=4)
        >>> idx.tolist(), mask.tolist(), overflow.tolist()
        ([[1, 3, 0, 0]], [[True, True, False, False]], [0])
    """
    if not isinstance(max_peaks, int) or max_peaks < 1:
        raise ValueError(f"max_peaks={max_peaks!r}: must be a static Python int >= 1")
    spec = as_values(spec, name="spectral_peaks")
    return _spectral_peaks_jit(spec, contrast=contrast, max_peaks=max_peaks, select_first=select_first)


@functools.partial(jax.jit, static_argnames=("contrast", "max_peaks", "select_first"))
def _spectral_peaks_jit(spec: jax.Array, *, contrast, max_peaks: int, select_first):
    return vmap_as_leading_axis(_spectral_peaks, contrast, max_peaks, select_first)(spec)


def _spectral_peaks(spec: jax.Array, contrast, max_peaks: int, select_first):
    n_bins = spec.shape[-1]
    lead = spec.shape[:-1]
    events, last, e = _select(spec, contrast, select_first, block_edges(n_bins))
    next_peak = _next_peaks(jnp.concatenate(events), last)  # [bins, F]
    count = jnp.sum(next_peak == jnp.arange(n_bins, dtype=next_peak.dtype)[:, None], axis=0, dtype=jnp.int32)
    next_peak = jax.lax.cond(
        jnp.any(count > max_peaks),  # runs only when some frame overflows (also under vmap, see above)
        lambda nxt, e: _keep_largest(nxt, jnp.concatenate(e), max_peaks),
        lambda nxt, e: nxt,
        next_peak,
        e,
    )
    idx = _compact(next_peak, max_peaks)  # [P, F]
    mask = idx < n_bins
    idx = jnp.where(mask, idx, 0).T.reshape(lead + (max_peaks,))
    overflow = jnp.maximum(count - max_peaks, 0).reshape(lead)
    return idx, mask.T.reshape(lead + (max_peaks,)), overflow


def _index_dtype(n_bins: int):
    return jnp.int16 if n_bins < 2**15 else jnp.int32  # half the memory traffic of int32 for 513 bins


def _next_peaks(events: jax.Array, last: jax.Array) -> jax.Array:
    """`_fates` emitting, for every bin, the lowest peak at or after it (`bins` if none): int [bins, F]."""
    n_bins, f = events.shape
    dtype = _index_dtype(n_bins)

    def step(carry, xs):
        fate, nxt = carry
        ev, b = xs
        became_current = (ev & 1) > 0
        nxt = jnp.where(became_current & fate, b, nxt)
        return (jnp.where(became_current, (ev & 2) > 0, fate), nxt), nxt

    init = (last, jnp.full((f,), n_bins, dtype))
    return jax.lax.scan(step, init, (events, jnp.arange(n_bins, dtype=dtype)), reverse=True)[1]


def _nearest_peaks(is_peak: jax.Array) -> jax.Array:
    """The `_next_peaks` table of a bool peak mask [bins, F]."""
    n_bins, f = is_peak.shape
    dtype = _index_dtype(n_bins)

    def step(nxt, xs):
        pk, b = xs
        nxt = jnp.where(pk, b, nxt)
        return nxt, nxt

    init = jnp.full((f,), n_bins, dtype)
    return jax.lax.scan(step, init, (is_peak, jnp.arange(n_bins, dtype=dtype)), reverse=True)[1]


def _compact(next_peak: jax.Array, p: int) -> jax.Array:
    """First p peaks of each column in bin order, from the next-peak table: int32 [p, F] (`bins` past the last).

    A scan over the p output slots follows the table one hop per slot, a single vector gather over all
    frames (a scatter into [F, p] measured ~10x slower on CPU).
    """
    n_bins, f = next_peak.shape
    table = next_peak.reshape(-1)
    cols = jnp.arange(f, dtype=jnp.int32)

    def hop(ptr, _):
        after = ptr.astype(jnp.int32) + 1
        nxt = table[jnp.minimum(after, n_bins - 1) * f + cols]
        return jnp.where(after < n_bins, nxt, n_bins).astype(ptr.dtype), ptr

    _, idx = jax.lax.scan(hop, next_peak[0], None, length=p)
    return idx.astype(jnp.int32)


def _keep_largest(next_peak: jax.Array, e: jax.Array, p: int) -> jax.Array:
    """Restrict each column's peaks to its p largest magnitudes (ties: the lower bin); same table format.

    `e` float32 [bins, F] is `_encode`'s output, >= 0 at every peak. The p-th largest peak magnitude is found
    bit by bit: the bit patterns of non-negative floats are ordered like the floats, so the largest pattern
    t with #{peaks with pattern >= t} >= p is that magnitude. 31 counting passes, no sort (lax.top_k over
    [F, bins] measured ~10x slower on CPU).
    """
    is_peak = next_peak == jnp.arange(next_peak.shape[0], dtype=next_peak.dtype)[:, None]
    bits = jnp.where(is_peak, jax.lax.bitcast_convert_type(e, jnp.int32), -1)

    def refine(i, thr):
        trial = thr | jnp.left_shift(jnp.int32(1), 30 - i)
        return jnp.where(jnp.sum(bits >= trial, axis=0) >= p, trial, thr)

    thr = jax.lax.fori_loop(0, 31, refine, jnp.zeros(bits.shape[1:], jnp.int32))
    above = bits > thr
    at_thr = bits == thr
    room = p - jnp.sum(above, axis=0)
    return _nearest_peaks(above | (at_thr & (jnp.cumsum(at_thr, axis=0) <= room)))
