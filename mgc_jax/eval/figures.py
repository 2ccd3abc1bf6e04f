"""The notebooks' pictures that the reports do not draw: feature maps with the clip grid, first-layer filters and
per-class results. Each `plot_*` takes checked arrays and returns a bare Agg `Figure`.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from dsp.config import FEATURE_NAMES
from mgc_jax import evaluate
from mgc_jax.data.clips import CLIP_FRAMES, CLIP_HOP, clip_starts

SAMPLE_RATE = 22050  # dsp.FeatureConfig() defaults: the time and frequency axes below
HOP_LENGTH = 512
N_FFT = 1024


def _figure(width: float, height: float):
    # A bare Figure on the Agg canvas, as in mgc_jax.eval.reports: works under any backend the caller set.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def _array(x, name: str, ndim: int, *, width: int | None = None) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != ndim or (width is not None and a.shape[-1] != width) or a.size == 0:
        want = f"{ndim}-D" + (f" with last axis {width}" if width is not None else "")
        raise ValueError(f"{name}: expected a non-empty {want} array, got shape {a.shape}")
    return a


def _clip_grid(ax, n_frames: int, seconds_per_frame: float) -> None:
    """Dashed lines at every 3 s clip start (hop 64 frames) and a shaded first clip (128 frames)."""
    starts = clip_starts(n_frames)
    for s in starts:
        ax.axvline(s * seconds_per_frame, color="0.35", lw=0.6, ls="--")
    if len(starts):
        ax.axvspan(0, CLIP_FRAMES * seconds_per_frame, color="tab:orange", alpha=0.12, lw=0)


# ------------------------------------------------------------------------------------------- feature maps


def plot_feature_curves(features, *, hop_s: float = HOP_LENGTH / SAMPLE_RATE, names: Sequence[str] = FEATURE_NAMES,
                        title: str | None = None):
    """The eight music features of one track against time, one axis each, with the clip grid.

    features: float [T, 8] (`dsp.music_features`); hop_s: seconds between frames. Returns a Figure with
    len(names) axes; the dashed lines are the clip starts (every 64 frames), the shaded span the first
    128-frame (3 s) clip.
    """
    f = _array(features, "features", 2, width=len(names))
    t = np.arange(f.shape[0]) * hop_s
    fig = _figure(11, 1.25 * len(names) + 0.6)
    axes = fig.subplots(len(names), 1, sharex=True, squeeze=False)[:, 0]
    for i, (ax, name) in enumerate(zip(axes, names)):
        ax.plot(t, f[:, i], lw=0.8, color="tab:blue")
        _clip_grid(ax, f.shape[0], hop_s)
        ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[-1].set_xlabel("time (s)")
    fig.suptitle(title or f"music features, {f.shape[0]} frames; dashed: {CLIP_FRAMES}-frame clips every "
                 f"{CLIP_HOP} frames", fontsize=10)
    fig.tight_layout()
    return fig


def plot_stft_map(stft, *, sample_rate: int = SAMPLE_RATE, hop_length: int = HOP_LENGTH, n_fft: int = N_FFT,
                  title: str | None = None):
    """The STFT magnitude map of one track in dB (20 log10, floor 1e-6) with the clip grid.

    stft: float [T, n_fft // 2 + 1] (`dsp.stft_features`). Returns a Figure with one image axis and its colour bar.
    """
    s = _array(stft, "stft", 2, width=n_fft // 2 + 1)
    hop_s = hop_length / sample_rate
    db = 20 * np.log10(np.maximum(s, 1e-6))
    fig = _figure(11, 4)
    ax = fig.subplots()
    im = ax.imshow(db.T, origin="lower", aspect="auto", cmap="magma",
                   extent=(0, s.shape[0] * hop_s, 0, sample_rate / 2), vmin=db.max() - 80, vmax=db.max())
    _clip_grid(ax, s.shape[0], hop_s)
    fig.colorbar(im, ax=ax, label="dB")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("frequency (Hz)")
    ax.set_title(title or f"STFT magnitude, {s.shape[0]} frames x {s.shape[1]} bins", fontsize=10)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------------------------- filters


def filter_order(kernel) -> np.ndarray:
    """Filter indices int [K], largest L2 norm first, of a first-layer kernel float [kt, F, K]."""
    k = _array(kernel, "kernel", 3)
    return np.argsort(-np.sqrt((k ** 2).sum(axis=(0, 1))), kind="stable")


def plot_music_filters(kernel, *, names: Sequence[str] = FEATURE_NAMES, max_filters: int = 16, cols: int = 8):
    """net_MUSIC's first-layer filters as heat maps (features x time offsets), largest norm first.

    kernel: float [kt=4, 8, K] (the `conv1` kernel, `model.block.conv1.kernel`): filter k answers
    sum_{i, f} x[t + i, f] kernel[i, f, k]. Draws min(K, max_filters) axes, each an [8, 4] image with one
    shared symmetric colour scale (red: the filter adds that feature at that offset, blue: subtracts).
    """
    k = _array(kernel, "kernel", 3)
    if k.shape[1] != len(names):
        raise ValueError(f"kernel: expected [kt, {len(names)}, K] for features {tuple(names)}, got shape {k.shape}")
    order = filter_order(k)[:max_filters]
    rows = -(-len(order) // cols)
    ncols = min(cols, len(order))
    fig = _figure(1.6 * ncols + 1.6, 2.3 * rows + 0.6)
    axes = fig.subplots(rows, ncols, squeeze=False)
    lim = float(np.abs(k[:, :, order]).max()) or 1.0
    im = None
    for n, ax in enumerate(axes.flat):
        if n >= len(order):
            ax.remove()
            continue
        j = order[n]
        im = ax.imshow(k[:, :, j].T, cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
        ax.set_title(f"filter {j}", fontsize=8)
        ax.set_xticks(range(k.shape[0]), [f"+{i}" for i in range(k.shape[0])], fontsize=6)
        ax.set_yticks(range(len(names)), names if n % ncols == 0 else [], fontsize=6)
    fig.colorbar(im, ax=list(axes.flat[: len(order)]), shrink=0.8, label="weight")
    fig.suptitle(f"net_MUSIC conv1: {len(order)} of {k.shape[2]} filters by norm (x: frame offset, y: feature)",
                 fontsize=10)
    return fig


def plot_stft_filters(kernel, *, sample_rate: int = SAMPLE_RATE, max_filters: int = 8, cols: int = 4):
    """net_STFT's first-layer filters as frequency profiles: one line per time offset against Hz.

    kernel: float [kt=4, n_bins, K] (`mgc_jax.nets.models.input_kernel(model.block)`, n_bins = n_fft / 2 + 1 = 513);
    bin b is at b * sample_rate / (2 (n_bins - 1)) Hz. Draws min(K, max_filters) axes, largest norm first.
    """
    k = _array(kernel, "kernel", 3)
    if k.shape[1] < 2:
        raise ValueError(f"kernel: expected [kt, n_bins >= 2, K], got shape {k.shape}")
    hz = np.arange(k.shape[1]) * sample_rate / (2 * (k.shape[1] - 1))
    order = filter_order(k)[:max_filters]
    rows = -(-len(order) // cols)
    ncols = min(cols, len(order))
    fig = _figure(3.4 * ncols, 2.4 * rows + 0.6)
    axes = fig.subplots(rows, ncols, squeeze=False, sharex=True)
    for n, ax in enumerate(axes.flat):
        if n >= len(order):
            ax.remove()
            continue
        j = order[n]
        for i in range(k.shape[0]):
            ax.plot(hz, k[i, :, j], lw=0.7, label=f"+{i}")
        ax.axhline(0, color="0.5", lw=0.5)
        ax.set_title(f"filter {j}", fontsize=8)
        ax.tick_params(labelsize=6)
        if n >= len(order) - ncols:
            ax.set_xlabel("frequency (Hz)", fontsize=7)
    axes.flat[0].legend(title="frame", fontsize=6, title_fontsize=6)
    fig.suptitle(f"net_STFT conv1: {len(order)} of {k.shape[2]} filters by norm, weight per frequency bin",
                 fontsize=10)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------------ per-genre features


def feature_attribution(logits_fn: Callable, clips, labels, *, n_classes: int, batch_size: int = 64) -> np.ndarray:
    """Mean |gradient x input| per feature over each genre's clips: float64 [n_classes, F], rows sum to 1.

    logits_fn: JAX-differentiable float32 [B, T, F] -> logits [B, n_classes] (raw-unit input; an
    eval-mode net, standardisation inside); clips: float [N, T, F]; labels: int [N], the true genre of each clip.

    For clip x of genre g the attribution of feature f is sum_t |x[t, f] * d logit_g / d x[t, f]|. Gradient
    x input rather than the gradient alone because the eight features have unrelated units (RMS ~0.1,
    roughness ~100s): x * grad does not change when a feature is rescaled and the first layer rescaled back,
    so features are compared on what they contribute, not on their units. Each genre's row is averaged over
    its clips and normalised to sum 1 (shares of the attribution); a genre without clips is a row of NaN.
    """
    import jax
    import jax.numpy as jnp

    x_all = _array(clips, "clips", 3).astype(np.float32)
    y_all = np.asarray(labels, dtype=np.int64)
    if y_all.shape != (x_all.shape[0],):
        raise ValueError(f"labels: expected shape ({x_all.shape[0]},) for clips {x_all.shape}, got {y_all.shape}")
    if y_all.size and (y_all.min() < 0 or y_all.max() >= n_classes):
        raise ValueError(f"labels: expected values in 0..{n_classes - 1}, got {y_all.min()}..{y_all.max()}")

    def true_logit_sum(x, y):
        return jnp.take_along_axis(logits_fn(x), y[:, None], axis=1).sum()

    grad = jax.jit(jax.grad(true_logit_sum))
    per_clip = np.zeros((x_all.shape[0], x_all.shape[2]))
    for a in range(0, x_all.shape[0], batch_size):
        x, y = x_all[a:a + batch_size], y_all[a:a + batch_size]
        g = np.asarray(grad(jnp.asarray(x), jnp.asarray(y)), dtype=np.float64)
        per_clip[a:a + batch_size] = np.abs(g * x).sum(axis=1)
    out = np.full((n_classes, x_all.shape[2]), np.nan)
    for c in range(n_classes):
        if (y_all == c).any():
            m = per_clip[y_all == c].mean(axis=0)
            out[c] = m / m.sum() if m.sum() > 0 else m
    return out


def plot_genre_feature_weights(weights, genres: Sequence[str], *, names: Sequence[str] = FEATURE_NAMES,
                               title: str = "net_MUSIC: share of mean |gradient x input| per feature"):
    """Heat map genres x features, each cell annotated in %. weights: float [G, F] (`feature_attribution`)."""
    w = _array(weights, "weights", 2, width=len(names))
    if w.shape[0] != len(genres):
        raise ValueError(f"weights: {w.shape[0]} rows for {len(genres)} genres")
    fig = _figure(1.0 * len(names) + 2.5, 0.45 * len(genres) + 1.6)
    ax = fig.subplots()
    im = ax.imshow(np.nan_to_num(w), cmap="Greens", vmin=0, aspect="auto")
    for g in range(w.shape[0]):
        top = np.nanargmax(w[g]) if np.isfinite(w[g]).any() else -1
        for f in range(w.shape[1]):
            if np.isfinite(w[g, f]):
                ax.text(f, g, f"{100 * w[g, f]:.0f}", ha="center", va="center", fontsize=7,
                        fontweight="bold" if f == top else "normal")
    ax.set_xticks(range(len(names)), names, rotation=35, ha="right", fontsize=8)
    ax.set_yticks(range(len(genres)), genres, fontsize=8)
    fig.colorbar(im, ax=ax, label="share")
    ax.set_title(title + " (%, bold: largest)", fontsize=9)
    fig.tight_layout()
    return fig


def plot_waveform_saliency(x, saliency, *, sample_rate: int = SAMPLE_RATE, hop_length: int = HOP_LENGTH,
                           n_fft: int = N_FFT, names: Sequence[str] = FEATURE_NAMES):
    """The waveform with its saliency envelope, and the attribution per music feature / STFT bin.

    x: float [n] the signal; saliency: `mgc_jax.serve.saliency.Saliency` of it (gradient [n], attribution kind -> [F]).
    Top panel: the waveform and the rms of dS/dx per hop (scaled to the waveform's peak). One panel per map
    below: gradient x input per music feature (bars) and per frequency bin (curve).
    """
    x = _array(x, "x", 1)
    g = _array(saliency.gradient, "saliency.gradient", 1, width=x.size)
    kinds = [k for k in ("music", "stft") if k in saliency.attribution]
    fig = _figure(9.0, 2.2 * (1 + len(kinds)))
    axes = np.atleast_1d(fig.subplots(1 + len(kinds), 1))
    t = np.arange(x.size) / sample_rate
    axes[0].plot(t, x, color="0.6", lw=0.4, label="waveform")
    n_hops = x.size // hop_length
    env = np.sqrt(np.mean(np.square(g[: n_hops * hop_length].reshape(n_hops, hop_length)), axis=1))
    scale = np.abs(x).max() / env.max() if env.max() > 0 else 1.0
    axes[0].plot((np.arange(n_hops) + 0.5) * hop_length / sample_rate, env * scale, color="tab:red", lw=1.0,
                 label="|dS/dx| (rms per hop, scaled)")
    axes[0].set_xlabel("time (s)", fontsize=8)
    axes[0].legend(fontsize=7, loc="upper right")
    axes[0].set_title(f"saliency of {saliency.genre!r} (score {saliency.score:.3f}: mean clip log-probability)",
                      fontsize=9)
    for ax, kind in zip(axes[1:], kinds):
        a = np.asarray(saliency.attribution[kind], np.float64)
        if kind == "music":
            ax.bar(range(a.size), a, color=np.where(a >= 0, "tab:green", "tab:purple"))
            ax.set_xticks(range(a.size), names[: a.size], rotation=25, ha="right", fontsize=8)
        else:
            ax.plot(np.arange(a.size) * sample_rate / n_fft, a, color="tab:blue", lw=0.8)
            ax.set_xlabel("frequency (Hz)", fontsize=8)
        ax.axhline(0, color="0.3", lw=0.5)
        ax.set_ylabel("gradient x input", fontsize=8)
        ax.set_title(f"{kind} map: attribution per {'feature' if kind == 'music' else 'frequency bin'}", fontsize=9)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------------------------ results


def genre_accuracy(ev) -> dict[str, np.ndarray]:
    """{system label: float [G] per-genre accuracy in %} of a `mgc_jax.eval.crossval.Evaluation` (NaN: no track)."""
    return {res.label: np.diag(evaluate.row_percent(res.confusion)) for res in ev.systems.values()}


def plot_genre_accuracy(accuracy: Mapping[str, Sequence[float]], genres: Sequence[str], *, title: str | None = None):
    """Grouped bars: per genre, one bar per system. accuracy: {system: float [G] in %} (`genre_accuracy`)."""
    if not accuracy:
        raise ValueError("accuracy: no system to draw")
    acc = {name: _array(a, f"accuracy[{name!r}]", 1) for name, a in accuracy.items()}
    for name, a in acc.items():
        if a.shape[0] != len(genres):
            raise ValueError(f"accuracy[{name!r}]: {a.shape[0]} values for {len(genres)} genres")
    fig = _figure(max(8.0, 0.9 * len(genres) * len(acc) / 2 + 3), 4)
    ax = fig.subplots()
    width = 0.8 / len(acc)
    x = np.arange(len(genres))
    for i, (name, a) in enumerate(acc.items()):
        ax.bar(x + (i - (len(acc) - 1) / 2) * width, np.nan_to_num(a), width, label=name)
    ax.set_xticks(x, genres, rotation=30, ha="right", fontsize=8)
    ax.set_ylim(0, 105)
    ax.set_ylabel("accuracy (%)")
    ax.legend(fontsize=7, ncols=min(len(acc), 5), loc="lower right")
    ax.set_title(title or "accuracy per genre (majority vote over each track's clips)", fontsize=10)
    fig.tight_layout()
    return fig


DISAGREEMENT_KEYS = ("stft_only", "stft_only_fused", "music_only", "music_only_fused",
                     "both_wrong", "both_wrong_fused", "both_right", "both_right_fused")


def disagreement(labels, stft, music, fusion, *, n_classes: int) -> dict[str, np.ndarray]:
    """Per genre: where net_STFT and net_MUSIC disagree on being right, and what a fusion decides there.

    labels, stft, music, fusion: int [N] true genre and the three systems' decisions on the same tracks.
    Returns {key: int64 [n_classes] track counts} for DISAGREEMENT_KEYS: "stft_only" = net_STFT right and
    net_MUSIC wrong, "music_only" the reverse, "both_wrong", "both_right"; "<key>_fused" = of those, the
    tracks the fusion gets right.
    """
    arrays = [np.asarray(a) for a in (labels, stft, music, fusion)]
    if any(a.ndim != 1 or a.shape != arrays[0].shape for a in arrays):
        raise ValueError(f"labels, stft, music, fusion: expected equal 1-D shapes, got {[a.shape for a in arrays]}")
    y, s, m, f = (a.astype(np.int64) for a in arrays)
    ok_s, ok_m, ok_f = s == y, m == y, f == y
    groups = {"stft_only": ok_s & ~ok_m, "music_only": ok_m & ~ok_s, "both_wrong": ~ok_s & ~ok_m,
              "both_right": ok_s & ok_m}
    out = {}
    for key, mask in groups.items():
        out[key] = np.bincount(y[mask], minlength=n_classes)
        out[key + "_fused"] = np.bincount(y[mask & ok_f], minlength=n_classes)
    return {k: out[k] for k in DISAGREEMENT_KEYS}


def aligned_decisions(ev, systems: Sequence[str]) -> tuple[tuple[str, ...], np.ndarray, dict[str, np.ndarray]]:
    """The tracks every one of `systems` decided, in the first system's order: (track ids, labels int [N],
    {system: decisions int [N]}), from a `mgc_jax.eval.crossval.Evaluation` (system names as in crossval.SYSTEMS)."""
    missing = [s for s in systems if s not in ev.systems]
    if missing:
        raise ValueError(f"systems {missing} are not in this evaluation (it has {list(ev.systems)})")
    common = set.intersection(*(set(ev.systems[s].track_ids) for s in systems))
    first = ev.systems[systems[0]]
    ids = tuple(t for t in first.track_ids if t in common)
    labels = np.array([first.labels[first.track_ids.index(t)] for t in ids], np.int64)
    out = {}
    for s in systems:
        res = ev.systems[s]
        pos = {t: i for i, t in enumerate(res.track_ids)}
        out[s] = np.array([res.predictions[pos[t]] for t in ids], np.int64)
    return ids, labels, out


def plot_disagreement(counts: Mapping[str, Sequence[int]], genres: Sequence[str], *, fusion: str = "FUSION2"):
    """Two axes: per genre, tracks only net_STFT gets right and tracks only net_MUSIC gets right (bars),
    with how many of them `fusion` gets right (dark part); then the totals of all four groups.

    counts: `disagreement(...)`, {key: int [G]} for DISAGREEMENT_KEYS.
    """
    c = {}
    for key in DISAGREEMENT_KEYS:
        if key not in counts:
            raise ValueError(f"counts: missing {key!r} (expected the keys of disagreement())")
        c[key] = _array(counts[key], f"counts[{key!r}]", 1)
        if c[key].shape[0] != len(genres):
            raise ValueError(f"counts[{key!r}]: {c[key].shape[0]} values for {len(genres)} genres")
    fig = _figure(12, 4.2)
    ax, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 1.3]})
    x = np.arange(len(genres))
    for off, key, color, name in ((-0.2, "stft_only", "tab:blue", "net_STFT right, net_MUSIC wrong"),
                                  (0.2, "music_only", "tab:green", "net_MUSIC right, net_STFT wrong")):
        ax.bar(x + off, c[key], 0.4, color=color, alpha=0.35, label=name)
        ax.bar(x + off, c[key + "_fused"], 0.4, color=color, label=f"... and {fusion} right")
    ax.set_xticks(x, genres, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("tracks")
    ax.legend(fontsize=7)
    ax.set_title("where the two nets disagree", fontsize=10)
    groups = ("both_right", "stft_only", "music_only", "both_wrong")
    totals = [c[g].sum() for g in groups]
    fused = [c[g + "_fused"].sum() for g in groups]
    ax2.bar(range(4), totals, color="0.75", label="tracks")
    ax2.bar(range(4), fused, color="tab:purple", label=f"{fusion} right")
    ax2.set_xticks(range(4), ["both right", "STFT only", "MUSIC only", "both wrong"], rotation=30, ha="right",
                   fontsize=8)
    ax2.legend(fontsize=7)
    ax2.set_title("all genres", fontsize=10)
    fig.tight_layout()
    return fig


def plot_clip_probs(probs, genres: Sequence[str], *, true: int, starts_s=None, title: str | None = None):
    """A track's clip-level class probabilities over time: one line per class (the true class thick, the
    track's decision dashed if it differs), the majority vote under the title.

    probs: float [n_clips, C] in time order (a run's test_probs row, `rundir.read_test_probs`); starts_s: float
    [n_clips] clip start times in seconds (default: the evaluation grid, a clip every CLIP_HOP frames).
    """
    p = _array(probs, "probs", 2, width=len(genres))
    t = (np.arange(len(p)) * CLIP_HOP * HOP_LENGTH / SAMPLE_RATE if starts_s is None
         else _array(starts_s, "starts_s", 1))
    if t.shape[0] != p.shape[0]:
        raise ValueError(f"starts_s: {t.shape[0]} times for {p.shape[0]} clips")
    vote = evaluate.majority_vote(p)
    fig = _figure(8, 3.2)
    ax = fig.subplots()
    for c, name in enumerate(genres):
        style = {"lw": 2.6, "color": "black"} if c == true else {"lw": 1.6, "ls": "--"} if c == vote else {"lw": 0.8}
        ax.plot(t, p[:, c], marker="o", ms=3, label=name + (" (true)" if c == true else " (vote)" if c == vote
                                                             else ""), **style)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("clip start (s)")
    ax.set_ylabel("probability")
    ax.legend(fontsize=7, ncols=2 if len(genres) > 6 else 1, loc="center left", bbox_to_anchor=(1.0, 0.5))
    ax.set_title(f"{title + ': ' if title else ''}voted {genres[vote]}, true {genres[true]} "
                 f"({len(p)} clips)", fontsize=10)
    fig.tight_layout()
    return fig
