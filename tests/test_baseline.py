"""The MFCC + music-feature RBF-SVM baseline (mgc_jax.eval.baseline) on a small synthetic corpus (no audio)."""
from __future__ import annotations

import hashlib
import pathlib
import types

import numpy as np
import pytest

from mgc_jax.data.folds import Split
from mgc_jax.data.gtzan import GENRES
from mgc_jax.data.track import Track
from mgc_jax.eval import baseline
from mgc_jax.evaluate import majority_vote
from mgc_jax.train.rundir import read_test_probs
from mgc_jax.workdir import Workdir

SR = 22050
BINS = 513
N_FEATURES = 2 * (baseline.N_MFCC + 8)


class SignatureCache:
    """`.load(track_id, kind)`: noise plus a genre signature; the STFT gets a genre-specific spectral peak
    (so MFCCs separate the genres), the music map a genre-specific column offset."""

    def __init__(self, genre_of: dict[str, str], n_frames: int = 40, strength: float = 1.0):
        self.genre_of, self.n_frames, self.strength = genre_of, n_frames, strength

    def load(self, track_id: str, kind: str, mmap: bool = True) -> np.ndarray:
        g = GENRES.index(self.genre_of[track_id])
        seed = int.from_bytes(hashlib.sha256(f"{track_id}/{kind}".encode()).digest()[:8], "little")
        rng = np.random.default_rng(seed)
        if kind == "stft":
            x = np.abs(rng.standard_normal((self.n_frames, BINS))).astype(np.float32) * 0.1
            x[:, 10 + 40 * g : 20 + 40 * g] += 5.0 * self.strength
            return x
        x = rng.standard_normal((self.n_frames, 8)).astype(np.float32)
        x[:, g % 8] += self.strength
        return x


def make_corpus(per_genre: int = 10, name: str = "fake", strength: float = 1.0):
    tracks = tuple(Track(f"{g}.{i:05d}", g, f"/nowhere/{g}.{i:05d}.wav") for g in GENRES for i in range(per_genre))
    cache = SignatureCache({t.track_id: t.genre for t in tracks}, strength=strength)

    def split(workdir, split_name, fold, *, n_folds=10):  # what mgc_jax.data.corpus.Corpus.split does for GTZAN
        from mgc_jax.data.folds import get_split

        return get_split(workdir, name, tracks, split_name, fold, n_folds=n_folds)

    return types.SimpleNamespace(name=name, tracks=tracks, cache=cache, cfg=types.SimpleNamespace(sample_rate=SR),
                                 classes=tuple(GENRES), split=split)


def split_of(corpus, train=range(0, 6), valid=range(6, 8), test=range(8, 10)) -> Split:
    pick = lambda r: tuple(sorted(f"{g}.{i:05d}" for g in GENRES for i in r))  # noqa: E731
    return Split(pick(train), pick(valid), pick(test))


# ------------------------------------------------------------------------------------------ MFCC


def test_dct_matrix_is_orthonormal_dct2():
    m = baseline.dct_matrix(40, 40)
    np.testing.assert_allclose(m.T @ m, np.eye(40), atol=1e-12)
    scipy_fft = pytest.importorskip("scipy.fft")
    x = np.random.default_rng(0).standard_normal((3, 40))
    np.testing.assert_allclose(x @ baseline.dct_matrix(40, 20), scipy_fft.dct(x, norm="ortho", axis=1)[:, :20],
                               atol=1e-12)


def test_mfcc_matches_librosa_up_to_the_log_base():
    librosa = pytest.importorskip("librosa")
    mag = np.abs(np.random.default_rng(1).standard_normal((30, BINS))).astype(np.float32) + 0.01
    ours = baseline.mfcc(mag, sample_rate=SR)
    # librosa: mel power in dB (10 log10, no top_db clip) -> DCT-II ortho; ours uses ln: a factor 10 / ln 10.
    # librosa's [bins, frames] layout is the transpose of ours.
    mel = librosa.feature.melspectrogram(S=np.square(mag.T.astype(np.float64)), sr=SR, n_mels=40)
    ref = librosa.feature.mfcc(S=librosa.power_to_db(mel, amin=1e-10, top_db=None), n_mfcc=20).T
    np.testing.assert_allclose(ours * 10 / np.log(10), ref, rtol=1e-6, atol=1e-6)


def test_track_statistics_layout():
    cache = make_corpus(1).cache
    tid = "rock.00000"
    stats = baseline.track_statistics(cache.load(tid, "stft"), cache.load(tid, "music"), sample_rate=SR)
    assert stats.shape == (N_FEATURES,)
    music = cache.load(tid, "music").astype(np.float64)
    np.testing.assert_allclose(stats[baseline.N_MFCC : baseline.N_MFCC + 8], music.mean(0), rtol=1e-12)
    np.testing.assert_allclose(stats[-8:], music.std(0), rtol=1e-12)
    with pytest.raises(ValueError, match="frames"):
        baseline.track_statistics(cache.load(tid, "stft")[:5], cache.load(tid, "music"), sample_rate=SR)


# ------------------------------------------------------------------------------------------ the SVM


def test_fit_and_evaluate_learns_trains_on_train_only_and_writes_net_layout(tmp_path):
    corpus = make_corpus()
    split = split_of(corpus)
    res = baseline.fit_and_evaluate(corpus, split, run_dir=tmp_path / "run")
    assert res.test_accuracy >= 0.9  # one clean spectral peak per genre: separable
    assert res.probs.shape == (len(split.test), 10)
    np.testing.assert_allclose(res.probs.sum(1), 1.0, rtol=1e-5)

    # The same pipeline fitted by hand on the training statistics alone gives the same probabilities
    # (and its decisions are the argmax of them).
    stats = lambda ids: baseline.corpus_statistics(corpus.cache, ids, sample_rate=SR)  # noqa: E731
    y_train = np.array([GENRES.index(t.split(".")[0]) for t in split.train])
    model = baseline._svm(1.0, "scale").fit(stats(split.train), y_train)
    np.testing.assert_allclose(baseline.class_probabilities(model, stats(split.test), 10), res.probs, rtol=1e-6)
    np.testing.assert_array_equal(res.probs.argmax(1), model.predict(stats(split.test)))

    tp = read_test_probs(res.test_probs_path)  # the nets' reader accepts it
    assert tp.track_ids == split.test and tp.genres == GENRES and all(len(p) == 1 for p in tp.probs)
    votes = np.array([majority_vote(p) for p in tp.probs])
    assert (votes == tp.labels).mean() == pytest.approx(res.test_accuracy)
    assert (tmp_path / "run" / "result.json").is_file() and (tmp_path / "run" / "config.json").is_file()


def test_grid_choice_is_the_best_validation_accuracy():
    corpus = make_corpus(strength=0.01)  # a faint signature: the grid points differ
    split = split_of(corpus, train=range(0, 3), valid=range(3, 6), test=range(6, 10))
    cfg = baseline.BaselineConfig(c_grid=(0.1, 1.0, 10.0), gamma_grid=("scale", 1.0))
    res = baseline.fit_and_evaluate(corpus, split, cfg=cfg)
    x = {k: baseline.corpus_statistics(corpus.cache, getattr(split, k), sample_rate=SR) for k in ("train", "valid")}
    y = {k: np.array([GENRES.index(t.split(".")[0]) for t in getattr(split, k)]) for k in ("train", "valid")}
    accs = {(C, g): (baseline._svm(C, g).fit(x["train"], y["train"]).predict(x["valid"]) == y["valid"]).mean()
            for C in cfg.c_grid for g in cfg.gamma_grid}
    assert res.valid_accuracy == pytest.approx(max(accs.values()))
    assert accs[(res.C, res.gamma)] == max(accs.values())
    assert len(set(accs.values())) > 1  # the grid really spans good and bad points


def test_two_classes_and_a_class_absent_from_training():
    corpus = make_corpus(4)
    two = Split(*(tuple(t for t in part if t.startswith(("blues", "rock"))) for part in split_of(
        corpus, train=range(0, 2), valid=range(2, 3), test=range(3, 4))))
    res = baseline.fit_and_evaluate(corpus, two)
    assert res.probs.shape == (2, 10)
    assert set(np.flatnonzero(res.probs.sum(0))) <= {GENRES.index("blues"), GENRES.index("rock")}
    np.testing.assert_allclose(res.probs.sum(1), 1.0, rtol=1e-5)


def test_bad_splits_raise_one_line_errors():
    corpus = make_corpus(4)
    s = split_of(corpus, train=range(0, 2), valid=range(2, 3), test=range(3, 4))
    with pytest.raises(ValueError, match="test split has no tracks"):
        baseline.fit_and_evaluate(corpus, Split(s.train, s.valid, ()))
    with pytest.raises(ValueError, match="classes"):
        baseline.fit_and_evaluate(corpus, s, classes=("blues", "rock"))
    with pytest.raises(ValueError, match="n_mfcc"):
        baseline.BaselineConfig(n_mfcc=50)


def test_run_uses_the_nets_split_file_and_run_dir(tmp_path):
    corpus = make_corpus(10)
    wd = Workdir(tmp_path)
    res = baseline.run(corpus, wd, fold=3)
    assert res.run_dir == wd.run_dir("fake", "stratified", "baseline", 3)
    assert pathlib.Path(res.test_probs_path).is_file() and wd.split_file("fake", "stratified").is_file()
    from mgc_jax.data.folds import get_split

    assert res.track_ids == get_split(wd, "fake", corpus.tracks, "stratified", 3).test


@pytest.mark.slow
def test_baseline_on_the_same_fold(gtzan_mini, tmp_path):
    from mgc_jax.eval import baseline
    from mgc_jax.train.rundir import read_test_probs

    corpus, _, split = gtzan_mini
    res = baseline.fit_and_evaluate(corpus, split, run_dir=tmp_path / "svm")
    assert res.n_test == 10 and 0.0 <= res.test_accuracy <= 1.0
    tp = read_test_probs(res.test_probs_path)
    assert tp.track_ids == split.test
    np.testing.assert_allclose(res.probs.sum(1), 1.0, rtol=1e-5)
