"""The four notebooks run headless top to bottom (nbclient, kernel python3) on a small synthetic corpus,
and are committed without outputs.

One session-scoped workdir serves all three: a synthetic corpus of 10 tracks per genre, 6.5 s each (the
corpus code accepts an existing corpus of any length; 6.5 s crops to one 6 s key window = 257 frames = 3 clips
per track), its feature cache, and a tiny net_STFT / net_MUSIC pair (k1 = 8, one epoch) trained on fold 0 by
`crossval.run`, which also writes the results directory. Notebooks 02 and 03 are pointed at those runs and
results through MGC_MUSIC_RUN, MGC_STFT_RUN and MGC_RESULTS_DIR; the slow variants let them train on their own.
Notebook 04 cross-validates a tiny net_MUSIC (k1 = 8, one epoch, 3 folds) on the same corpus itself.
"""
import contextlib
import json
import os
import pathlib
import shutil

# Hard imports: the `test` extra installs them, and a notebook suite that skips on a fresh clone proves nothing.
import nbclient  # noqa: E402
import nbformat  # noqa: E402
import pytest

from mgc_jax.evaluate import Bootstrap

NOTEBOOKS = pathlib.Path(__file__).resolve().parents[1] / "notebooks"
NAMES = ("01_batch_feature_extraction", "02_what_the_nets_learned", "03_results", "04_your_music")
PER_GENRE = 10  # stratified folds need >= 10 tracks per genre
SECONDS = 6.5


@contextlib.contextmanager
def _env(**values):
    """Set environment variables for the kernel the notebook starts (it inherits ours), then restore them."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update({k: str(v) for k, v in values.items()})
    os.environ.setdefault("MPLBACKEND", "Agg")
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _execute(name: str, cwd: pathlib.Path, **env):
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    with _env(MPLBACKEND="Agg", **env):
        client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                         resources={"metadata": {"path": str(cwd)}})
        client.execute()  # ipykernel (test extra) ships the python3 kernelspec in sys.prefix
    return nb


def _text(nb) -> str:
    out = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            out.append(o.get("text", "") or "".join(o.get("data", {}).get("text/plain", "")))
    return "\n".join(out)


def _small_corpus(root: pathlib.Path):
    from mgc_jax.data import synthetic
    from mgc_jax.data.corpus import SYNTHETIC_SEED
    from mgc_jax.workdir import Workdir

    wd = Workdir(root)
    synthetic.make_corpus(wd.corpus_dir(synthetic.CORPUS_NAME), PER_GENRE, seconds=SECONDS, seed=SYNTHETIC_SEED)
    return wd


@pytest.fixture(scope="session")
def small_workdir(tmp_path_factory):
    """(Workdir, CrossvalResult): the small corpus, its cache, tiny fold-0 runs of both nets and their results."""
    import sys

    sys.path.insert(0, str(pathlib.Path(__file__).parent / "support"))
    from fake_data import tiny_config

    from mgc_jax.data.corpus import prepare_corpus
    from mgc_jax.eval import crossval

    wd = _small_corpus(tmp_path_factory.mktemp("notebooks") / "ws")
    corpus = prepare_corpus(None, wd, progress=False)
    cfg = tiny_config(epochs=1, batch_size=20, eval_batch_size=40)
    return wd, crossval.run(cfg, wd, corpus, nets=("stft", "music"), folds=(0,), boot=Bootstrap(n_boot=100))


def test_committed_notebooks_have_no_outputs():
    for name in NAMES:
        nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
        nbformat.validate(nb)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, f"{name}: a code cell has outputs"
        assert "MGC_WORKDIR" in nb.cells[0].source and "MGC_NB_TRACKS_PER_GENRE" in nb.cells[0].source, name


def test_01_batch_feature_extraction(small_workdir):
    wd, _ = small_workdir
    nb = _execute(NAMES[0], NOTEBOOKS, MGC_WORKDIR=wd.root, MGC_NB_TRACKS_PER_GENRE=1, MGC_BATCH=4,
                  MGC_LOOP_TRACKS=2)
    text = _text(nb)
    assert "10 tracks from" in text and "x real time" in text
    for png in ("01_feature_curves.png", "01_stft_map.png"):
        assert (wd.root / "figures" / png).stat().st_size > 0


@pytest.mark.slow  # ~15-40 s on 2 cores: keeps the default suite near 10 min
def test_02_what_the_nets_learned(small_workdir):
    wd, cv = small_workdir
    runs = cv.evaluation.runs
    nb = _execute(NAMES[1], NOTEBOOKS, MGC_WORKDIR=wd.root, MGC_MUSIC_RUN=runs["music"][0],
                  MGC_STFT_RUN=runs["stft"][0])
    text = _text(nb)
    assert "conv1 kernel (4, 8, 8)" in text and "conv1 kernel (4, 513, 8)" in text
    from mgc_jax.train.rundir import read_test_probs

    test = read_test_probs(pathlib.Path(runs["music"][0]) / "test_probs.npz")
    assert f"{sum(len(p) for p in test.probs)} clips of {len(test.track_ids)} test tracks" in text
    assert f"{test.track_ids[0]} (true genre" in text and "saliency of" in text
    for png in ("02_music_filters.png", "02_genre_feature_weights.png", "02_stft_filters.png",
                "02_waveform_saliency.png"):
        assert (wd.root / "figures" / png).stat().st_size > 0


def test_03_results(small_workdir):
    wd, cv = small_workdir
    results_dir = wd.results_dir("synthetic", "stratified")
    nb = _execute(NAMES[2], NOTEBOOKS, MGC_WORKDIR=wd.root, MGC_RESULTS_DIR=results_dir)
    text = _text(nb)
    for res in cv.evaluation.systems.values():  # the notebook's re-derived accuracies are the command's
        assert f"{res.label:>13}: {100 * res.summary.pooled:5.1f} % on {res.summary.n_tracks} tracks" in text
    assert f"FUSION2: of {cv.evaluation.systems['FUSION2'].summary.n_tracks} tracks" in text
    for png in ("03_genre_accuracy.png", "03_disagreement.png"):
        assert (wd.root / "figures" / png).stat().st_size > 0


@pytest.mark.slow  # ~15-40 s on 2 cores: keeps the default suite near 10 min
def test_04_your_music(small_workdir):
    wd, _ = small_workdir
    nb = _execute(NAMES[3], NOTEBOOKS, MGC_WORKDIR=wd.root, MGC_NB_EPOCHS=1, MGC_NB_FOLDS=3, MGC_NB_K1=8,
                  MGC_NB_SHOW=2)
    text = _text(nb)
    n = 10 * PER_GENRE
    assert "corpus synthetic (synthetic, " in text and f"10 classes, {n} tracks" in text  # the corpus summary
    results = json.loads((wd.results_dir("synthetic", "stratified", n_folds=3) / "results.json").read_text())
    accuracy = results["systems"]["net_MUSIC"]["accuracy"]
    assert f"net_MUSIC: {100 * accuracy:.1f} % of {n} tracks" in text  # every track tested once over 3 folds
    assert "trained 3 runs, reused 0" in text and "confusion_net_MUSIC.png" in text
    wrong = round(n * (1 - accuracy))
    assert f"{wrong} of {n} tracks misclassified" in text
    players = [o for cell in nb.cells for o in cell.get("outputs", [])
               if "<audio" in "".join(o.get("data", {}).get("text/html", ""))]
    assert len(players) == len(list((wd.root / "figures").glob("04_wrong_*.png"))) == min(2, wrong)
    for png in ("04_features_blues.png", "04_stft_blues.png", "04_features_classical.png"):
        assert (wd.root / "figures" / png).stat().st_size > 0


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES[1:3])
def test_notebook_trains_its_own_runs(name, small_workdir, tmp_path):
    """02 and 03 without given runs: they train (net_MUSIC / net_STFT, fold 0, one epoch at full size) themselves."""
    wd, _ = small_workdir
    own = tmp_path / "ws"
    shutil.copytree(wd.root / "corpora", own / "corpora")  # the short corpus; features and runs made anew
    nb = _execute(name, NOTEBOOKS, MGC_WORKDIR=own, MGC_NB_EPOCHS=1)
    for net in ("music", "stft"):
        assert (own / "runs" / "synthetic" / "stratified" / net / "fold0" / "test_probs.npz").is_file()
    if name == NAMES[1]:
        assert "trained music fold 0 for 1 epochs" in _text(nb) and "trained stft fold 0 for 1 epochs" in _text(nb)
    else:
        assert (own / "results" / "synthetic" / "stratified" / "table2.md").is_file()
