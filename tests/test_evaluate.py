"""mgc_jax.evaluate on hand-made probability matrices: votes and ties, FUSION1 vs FUSION2, confusion, bootstrap."""
from __future__ import annotations

import numpy as np
import pytest

from mgc_jax.evaluate import (
    Bootstrap,
    accuracy,
    bootstrap_ci,
    clip_votes,
    confusion_matrix,
    fold_summary,
    fusion1,
    fusion2,
    majority_vote,
    row_percent,
)

# ------------------------------------------------------------------------------------------ voting


def test_majority_vote_clear_winner():
    p = [[0.6, 0.3, 0.1], [0.1, 0.5, 0.4], [0.2, 0.2, 0.6], [0.1, 0.6, 0.3]]
    np.testing.assert_array_equal(clip_votes(p), [1, 2, 1])
    assert majority_vote(p) == 1


def test_tie_goes_to_the_largest_mean_probability_among_the_tied():
    # votes: class 0 (clip 0) and class 1 (clip 1), one each; class 2 none.
    # means: class 0 (0.5 + 0.1) / 2 = 0.30, class 1 (0.2 + 0.8) / 2 = 0.50 -> 1
    p = [[0.5, 0.2, 0.3], [0.1, 0.8, 0.1]]
    assert majority_vote(p) == 1
    # Same votes, but clip 0 more confident: class 0 mean (0.9 + 0.1) / 2 = 0.50 > class 1 (0.05 + 0.8) / 2 -> 0
    assert majority_vote([[0.9, 0.05, 0.05], [0.1, 0.8, 0.1]]) == 0


def test_tie_ignores_an_untied_class_with_a_larger_mean():
    # votes 2 / 2 / 1 for classes 0 / 1 / 2. Class 2 has by far the largest mean (0.472) but only one vote.
    # Class 0 mean (0.36 + 0.36 + 0.29 + 0.30 + 0) / 5 = 0.262; class 1 (0.30 + 0.30 + 0.37 + 0.36 + 0) / 5 = 0.266
    p = [[0.36, 0.30, 0.34], [0.36, 0.30, 0.34], [0.29, 0.37, 0.34], [0.30, 0.36, 0.34], [0.0, 0.0, 1.0]]
    np.testing.assert_array_equal(clip_votes(p), [2, 2, 1])
    assert majority_vote(p) == 1


def test_tie_in_votes_and_means_goes_to_the_lowest_index():
    # classes 1 and 3 get one vote each with equal means 0.35; class 0 (lower index) has no vote.
    p = [[0.0, 0.6, 0.3, 0.1], [0.0, 0.1, 0.3, 0.6]]
    assert majority_vote(p) == 1
    assert majority_vote(np.array(p)[:, [0, 3, 2, 1]]) == 1  # now classes 1 (was 3) and 3: still lowest


def test_one_clip_is_its_argmax():
    assert majority_vote([[0.1, 0.2, 0.7]]) == 2


@pytest.mark.parametrize("bad", [np.zeros((0, 3)), np.zeros(3), [[0.5, np.nan]]])
def test_majority_vote_refuses_empty_or_nan(bad):
    with pytest.raises(ValueError):
        majority_vote(bad)


# ------------------------------------------------------------------------------------------ fusion

# Two nets on one 3-clip track (classes 0, 1, 2).
NET_A = np.array([[0.8, 0.2, 0.0], [0.45, 0.55, 0.0], [0.3, 0.7, 0.0]])
NET_B = np.array([[1.0, 0.0, 0.0], [0.45, 0.55, 0.0], [0.6, 0.4, 0.0]])


def test_fusion1_and_fusion2_disagree_by_hand():
    # Each net alone: A votes 0, 1, 1 -> 1; B votes 0, 1, 0 -> 0.
    assert majority_vote(NET_A) == 1 and majority_vote(NET_B) == 0
    # FUSION1: mean of the 6 rows; class 0: (0.8 + 0.45 + 0.3 + 1.0 + 0.45 + 0.6) / 6 = 0.60 > class 1: 0.40 -> 0
    assert fusion1(NET_A, NET_B) == 0
    # FUSION2: clip-wise means [0.9, 0.1], [0.45, 0.55], [0.45, 0.55] -> votes 0, 1, 1 -> 1
    assert fusion2(NET_A, NET_B) == 1
    assert fusion1(NET_B, NET_A) == 0 and fusion2(NET_B, NET_A) == 1  # symmetric in the nets


def test_fusion2_tie_uses_the_fused_means():
    # clip-wise means: [0.55, 0.45], [0.3, 0.7] -> one vote each; fused means 0.425 vs 0.575 -> 1
    a = [[0.6, 0.4], [0.2, 0.8]]
    b = [[0.5, 0.5], [0.4, 0.6]]
    assert fusion2(a, b) == 1


def test_fusion1_takes_different_clip_counts_fusion2_does_not():
    a = [[0.7, 0.3]]
    b = [[0.2, 0.8], [0.2, 0.8]]
    assert fusion1(a, b) == 1  # (0.7 + 0.2 + 0.2) / 3 = 0.367 for class 0
    with pytest.raises(ValueError, match="clip by clip"):
        fusion2(a, b)


# ------------------------------------------------------------------------------------------ metrics


def test_confusion_matrix_and_row_percent_by_hand():
    cm = confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], n_classes=4)
    np.testing.assert_array_equal(cm, [[1, 1, 0, 0], [0, 1, 0, 0], [1, 0, 2, 0], [0, 0, 0, 0]])
    pct = row_percent(cm)
    # exact halves and thirds in float64
    np.testing.assert_allclose(pct[:3], [[50, 50, 0, 0], [0, 100, 0, 0], [100 / 3, 0, 200 / 3, 0]], rtol=1e-12)
    assert np.isnan(pct[3]).all()  # no track of class 3
    assert accuracy([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2]) == pytest.approx(4 / 6)
    with pytest.raises(ValueError, match="outside"):
        confusion_matrix([0, 10], [0, 1], n_classes=10)


def test_bootstrap_two_point_distribution():
    # Resampling [0, 1] gives means 0, 0.5, 1 with probabilities 1/4, 1/2, 1/4.
    mean, lo, hi = bootstrap_ci([False, True], Bootstrap(n_boot=4000, seed=1))
    assert (mean, lo, hi) == (0.5, 0.0, 1.0)  # 2.5 % / 97.5 % quantiles fall inside the outer atoms
    # A 40 % interval (30 % / 70 % quantiles) falls inside the middle atom.
    assert bootstrap_ci([0.0, 1.0], Bootstrap(n_boot=4000, seed=1, level=0.4))[1:] == (0.5, 0.5)


def test_bootstrap_matches_the_binomial_width_and_is_seeded():
    correct = np.arange(1000) % 10 != 0  # 900 / 1000 correct
    mean, lo, hi = bootstrap_ci(correct, Bootstrap(n_boot=2000, seed=0))
    assert mean == 0.9
    # Normal approximation: 1.96 * sqrt(0.9 * 0.1 / 1000) = 0.0186. The percentile bootstrap's half-width
    # carries Monte Carlo error of a few 1e-4 at B = 2000 and lattice steps of 1e-3 (one track).
    assert (hi - lo) / 2 == pytest.approx(0.0186, abs=0.002)
    assert lo < mean < hi
    assert bootstrap_ci(correct, Bootstrap(n_boot=2000, seed=0)) == (mean, lo, hi)
    assert bootstrap_ci(correct, Bootstrap(n_boot=2000, seed=5)) != (mean, lo, hi)
    assert bootstrap_ci(np.ones(5, bool), boot=Bootstrap(n_boot=10)) == (1.0, 1.0, 1.0)


def test_fold_summary_by_hand():
    s = fold_summary({3: [True, True, False, True], 1: [True, False]}, Bootstrap(n_boot=200))
    assert s.fold_accuracy == {1: 0.5, 3: 0.75}
    assert s.pooled == pytest.approx(4 / 6) and s.n_tracks == 6
    assert s.fold_mean == pytest.approx(0.625)
    assert s.fold_std == pytest.approx(np.sqrt(2 * 0.125**2))  # ddof = 1
    assert s.ci_lo <= s.pooled <= s.ci_hi and s.ci_half_width == pytest.approx((s.ci_hi - s.ci_lo) / 2)
    # The fold-mean interval resamples the two fold accuracies: it lies within [0.5, 0.75].
    assert 0.5 <= s.fold_ci_lo <= s.fold_ci_hi <= 0.75
    single = fold_summary({0: [True, False, True]}, Bootstrap(n_boot=50))
    assert single.fold_std == 0.0 and single.fold_mean == pytest.approx(2 / 3)
