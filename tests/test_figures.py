"""mgc_jax.eval.figures: what each picture draws is its input, the numbers behind them, bad shapes refused."""
from types import SimpleNamespace

import jax.numpy as jnp
import numpy as np
import pytest

from dsp.config import FEATURE_NAMES
from mgc_jax.data.clips import clip_starts
from mgc_jax.eval import figures

GENRES = ("blues", "classical", "country")


def _curves(ax):
    """The data lines of an axis (not the clip-grid axvlines, which have 2-point x data in axes coords)."""
    return [ln for ln in ax.get_lines() if len(ln.get_xdata()) > 2]


def test_feature_curves_draw_each_column_with_the_clip_grid():
    f = np.random.default_rng(0).standard_normal((300, 8)).astype(np.float32)
    fig = figures.plot_feature_curves(f, hop_s=0.5)
    assert len(fig.axes) == 8
    for i, ax in enumerate(fig.axes):
        (line,) = _curves(ax)
        np.testing.assert_array_equal(line.get_ydata(), f[:, i])
        np.testing.assert_allclose(line.get_xdata(), np.arange(300) * 0.5)
        grid = sorted(ln.get_xdata()[0] for ln in ax.get_lines() if len(ln.get_xdata()) == 2)
        np.testing.assert_allclose(grid, clip_starts(300) * 0.5)  # 300 frames: clips at 0, 64, 128
        assert ax.get_ylabel() == FEATURE_NAMES[i]


@pytest.mark.parametrize("shape", [(300, 7), (300,), (0, 8)])
def test_feature_curves_refuse_other_shapes(shape):
    with pytest.raises(ValueError, match="features"):
        figures.plot_feature_curves(np.zeros(shape))


def test_stft_map_draws_decibels_on_a_hz_axis():
    s = np.random.default_rng(1).random((200, 513)) + 1e-3
    fig = figures.plot_stft_map(s)
    assert len(fig.axes) == 2  # the map and its colour bar
    (im,) = fig.axes[0].get_images()
    np.testing.assert_allclose(im.get_array(), 20 * np.log10(s).T, rtol=1e-12)  # float64 both sides
    assert im.get_extent()[3] == 11025.0
    with pytest.raises(ValueError, match="stft"):
        figures.plot_stft_map(np.ones((200, 512)))


def test_music_filters_show_the_largest_filters_as_feature_by_offset_maps():
    k = np.random.default_rng(2).standard_normal((4, 8, 20))
    k[:, :, 13] *= 10  # the largest filter comes first
    fig = figures.plot_music_filters(k, max_filters=6, cols=3)
    images = [ax for ax in fig.axes if ax.get_images()]
    assert len(images) == 6
    order = figures.filter_order(k)
    assert order[0] == 13
    for ax, j in zip(images, order):
        np.testing.assert_array_equal(ax.get_images()[0].get_array(), k[:, :, j].T)  # rows: features
    assert [t.get_text() for t in images[0].get_yticklabels()] == list(FEATURE_NAMES)
    with pytest.raises(ValueError, match="kernel"):
        figures.plot_music_filters(np.zeros((4, 9, 3)))


def test_stft_filters_plot_one_profile_per_offset_against_hz():
    k = np.random.default_rng(3).standard_normal((4, 513, 5))
    fig = figures.plot_stft_filters(k, max_filters=5)
    order = figures.filter_order(k)
    drawn = [ax for ax in fig.axes if _curves(ax)]
    assert len(drawn) == 5
    for ax, j in zip(drawn, order):
        lines = _curves(ax)
        assert len(lines) == 4
        for i, ln in enumerate(lines):
            np.testing.assert_array_equal(ln.get_ydata(), k[i, :, j])
        assert ln.get_xdata()[-1] == 11025.0 and ln.get_xdata()[1] == pytest.approx(22050 / 1024)
    with pytest.raises(ValueError, match="kernel"):
        figures.plot_stft_filters(np.zeros((4, 513)))


def test_attribution_of_a_linear_net_is_x_times_its_weights():
    rng = np.random.default_rng(4)
    w = rng.standard_normal((8, 3))
    w[2] = 0.0  # a feature the net ignores gets no share
    x = rng.standard_normal((7, 16, 8)).astype(np.float32)
    y = np.array([0, 0, 1, 1, 1, 2, 2])

    def logits(xb):
        return xb.sum(axis=1) @ jnp.asarray(w, jnp.float32)

    got = figures.feature_attribution(logits, x, y, n_classes=4, batch_size=3)
    per_clip = np.abs(x.astype(np.float64) * w[:, y].T[:, None, :]).sum(axis=1)  # [N, 8]
    for c in range(3):
        m = per_clip[y == c].mean(axis=0)
        np.testing.assert_allclose(got[c], m / m.sum(), rtol=1e-5)  # float32 gradients
    assert np.all(got[:3, 2] == 0)
    assert np.isnan(got[3]).all()  # genre 3 has no clip
    with pytest.raises(ValueError, match="labels"):
        figures.feature_attribution(logits, x, y[:-1], n_classes=4)
    with pytest.raises(ValueError, match="labels"):
        figures.feature_attribution(logits, x, y + 2, n_classes=4)


def test_genre_feature_weights_draw_the_matrix():
    w = np.random.default_rng(5).random((3, 8))
    fig = figures.plot_genre_feature_weights(w, GENRES)
    (im,) = fig.axes[0].get_images()
    np.testing.assert_array_equal(im.get_array(), w)
    assert len(fig.axes[0].texts) == 24
    with pytest.raises(ValueError, match="genres"):
        figures.plot_genre_feature_weights(w, GENRES[:2])


def test_disagreement_counts_and_what_the_fusion_does():
    y = np.array([0, 0, 1, 1, 2, 2])
    stft = np.array([0, 1, 1, 0, 2, 0])
    music = np.array([1, 0, 1, 1, 0, 1])
    fus = np.array([0, 1, 1, 1, 2, 2])
    c = figures.disagreement(y, stft, music, fus, n_classes=3)
    assert list(c) == list(figures.DISAGREEMENT_KEYS)
    np.testing.assert_array_equal(c["stft_only"], [1, 0, 1])  # tracks 0 and 4
    np.testing.assert_array_equal(c["stft_only_fused"], [1, 0, 1])
    np.testing.assert_array_equal(c["music_only"], [1, 1, 0])  # tracks 1 and 3
    np.testing.assert_array_equal(c["music_only_fused"], [0, 1, 0])  # fusion loses track 1
    np.testing.assert_array_equal(c["both_right"], [0, 1, 0])
    np.testing.assert_array_equal(c["both_wrong"], [0, 0, 1])
    np.testing.assert_array_equal(c["both_wrong_fused"], [0, 0, 1])  # fusion rescues track 5
    with pytest.raises(ValueError, match="equal 1-D"):
        figures.disagreement(y, stft[:-1], music, fus, n_classes=3)

    fig = figures.plot_disagreement(c, GENRES)
    ax, ax2 = fig.axes
    heights = [p.get_height() for p in ax.patches]
    np.testing.assert_array_equal(heights, np.concatenate([c["stft_only"], c["stft_only_fused"],
                                                           c["music_only"], c["music_only_fused"]]))
    np.testing.assert_array_equal([p.get_height() for p in ax2.patches], [1, 2, 2, 1, 1, 2, 1, 1])
    with pytest.raises(ValueError, match="missing"):
        figures.plot_disagreement({"stft_only": c["stft_only"]}, GENRES)


def _system(name, label, ids, labels, pred, n=3):
    cm = np.zeros((n, n), np.int64)
    np.add.at(cm, (labels, pred), 1)
    return SimpleNamespace(name=name, label=label, track_ids=tuple(ids), labels=np.asarray(labels),
                           predictions=np.asarray(pred), confusion=cm)


def test_aligned_decisions_and_genre_accuracy_from_an_evaluation():
    ev = SimpleNamespace(systems={
        "net_STFT": _system("net_STFT", "net_STFT", ["a", "b", "c", "d"], [0, 1, 2, 2], [0, 1, 1, 2]),
        "net_MUSIC": _system("net_MUSIC", "net_MUSIC", ["c", "b", "a"], [2, 1, 0], [2, 0, 0]),
    })
    ids, labels, dec = figures.aligned_decisions(ev, ["net_STFT", "net_MUSIC"])
    assert ids == ("a", "b", "c")
    np.testing.assert_array_equal(labels, [0, 1, 2])
    np.testing.assert_array_equal(dec["net_MUSIC"], [0, 0, 2])
    with pytest.raises(ValueError, match="FUSION2"):
        figures.aligned_decisions(ev, ["net_STFT", "FUSION2"])
    acc = figures.genre_accuracy(ev)
    np.testing.assert_allclose(acc["net_STFT"], [100, 100, 50])
    fig = figures.plot_genre_accuracy(acc, GENRES)
    heights = [p.get_height() for p in fig.axes[0].patches]
    np.testing.assert_allclose(heights, [100, 100, 50, 100, 0, 100])
    with pytest.raises(ValueError, match="genres"):
        figures.plot_genre_accuracy(acc, GENRES[:2])



def test_clip_probs_draw_one_line_per_class_over_the_clip_times():
    p = np.array([[0.7, 0.2, 0.1], [0.2, 0.7, 0.1], [0.1, 0.8, 0.1]], np.float32)
    fig = figures.plot_clip_probs(p, GENRES, true=0)
    (ax,) = fig.axes
    lines = ax.get_lines()
    assert [ln.get_label() for ln in lines] == ["blues (true)", "classical (vote)", "country"]
    for c, ln in enumerate(lines):
        np.testing.assert_array_equal(ln.get_ydata(), p[:, c])
        np.testing.assert_allclose(ln.get_xdata(), np.arange(3) * 64 * 512 / 22050)  # a clip every 64 frames
    assert "voted classical, true blues (3 clips)" in ax.get_title()
    with pytest.raises(ValueError, match="starts_s: 2 times for 3 clips"):
        figures.plot_clip_probs(p, GENRES, true=0, starts_s=[0.0, 1.0])
    with pytest.raises(ValueError, match=r"probs: expected a non-empty 2-D with last axis 3 array, got shape \(3, 2\)"):
        figures.plot_clip_probs(p[:, :2], GENRES, true=0)
