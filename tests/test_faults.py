"""Damaged feature caches and checkpoint directories: detected and rebuilt, or refused with a message naming the
file or directory; never a silent wrong result, never a traceback out of a launch command.

Already covered elsewhere, not repeated here:
- tests/test_cache.py: a truncated or missing .npy is rebuilt by `extraction.extract`; an object (pickle) array is
  refused by `FeatureCache.load`; a cache of another FeatureConfig is refused; a kill while writing leaves no
  finished-looking file; other dsp code rebuilds every map.
- tests/test_checkpoint.py: flipped, truncated or deleted orbax array files fail the restore (digest); an
  interrupted save's tmp directory is ignored; a checkpoint directory under a file is refused; config mismatches
  name the field. tests/test_train.py: a damaged checkpoint stops a resume; tests/test_inference.py: a folder that
  is not a run is refused by `Classifier.from_checkpoint` and `launch.predict`.
"""
from __future__ import annotations

import json
import os
import pathlib
import shutil

import numpy as np
import pytest
import soundfile as sf
from fake_data import WIDTHS, make_fold_data, tiny_config

import dsp
from mgc_jax.data import cache, extraction
from mgc_jax.data.track import Track
from mgc_jax.errors import DataError
from mgc_jax.train.checkpoint import CheckpointError

CFG = dsp.FeatureConfig()
SR = 22050

# ----------------------------------------------------------------------------------------------- feature cache


def _fake_extract(x, cfg):
    """Stand-in for cache._extract_batch with the real shapes (the cache's bookkeeping is under test, not dsp)."""
    t = dsp.n_frames(x.shape[1], cfg)
    # float64, rounded once: the same float32 values whatever batch (and memory layout) a track comes in
    frames = np.asarray(x, np.float64)[:, : t * cfg.hop_length].reshape(len(x), t, -1)
    rms = np.sqrt(np.mean(np.square(frames), -1))
    return (np.repeat(rms[..., None], 8, -1).astype(np.float32), np.zeros((len(x), 8), np.int32),
            np.repeat(rms[..., None], cfg.n_bins, -1).astype(np.float32))


@pytest.fixture
def extracted(tmp_path, monkeypatch):
    """Two 7 s tracks extracted into tmp_path/f: (tracks, cache directory)."""
    monkeypatch.setattr(extraction, "_extract_batch", _fake_extract)
    tracks = []
    for i in range(2):
        path = tmp_path / "audio" / f"blues.{i:05d}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, 0.1 * np.random.default_rng(i).standard_normal(7 * SR), SR, subtype="PCM_16")
        tracks.append(Track(path.stem, "blues", str(path)))
    extraction.extract(tracks, tmp_path / "f", CFG, progress=False)
    return tracks, tmp_path / "f"


def _npy(directory, kind="music", track="blues.00000"):
    return directory / f"{track}.{kind}.npy"


@pytest.mark.parametrize("mmap", [True, False])
@pytest.mark.parametrize("damage", ["truncated", "header only", "garbage bytes", "directory"])
def test_load_refuses_an_unreadable_array_naming_it(extracted, damage, mmap):
    _, directory = extracted
    path = _npy(directory)
    data = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(data[:-100])
    elif damage == "header only":
        path.write_bytes(data[:40])
    elif damage == "garbage bytes":
        path.write_bytes(b"\x00\xffnot an array" * 10)
    else:
        path.unlink()
        path.mkdir()
    with pytest.raises(DataError, match=f"^{path}: unreadable feature file .*run the extraction again"):
        cache.FeatureCache(directory).load("blues.00000", "music", mmap=mmap)


@pytest.mark.parametrize("damage", ["wrong shape", "wrong width", "float64", "garbage bytes"])
def test_extract_rebuilds_an_array_of_the_wrong_shape_or_type(extracted, damage):
    tracks, directory = extracted
    path = _npy(directory)
    good = np.load(path)
    bad = {"wrong shape": good[:-1], "wrong width": good[:, :7], "float64": good.astype(np.float64)}.get(damage)
    if bad is None:
        path.write_bytes(b"\x00\xffnot an array" * 10)
    else:
        np.save(path, bad)
    report = extraction.extract(tracks, directory, CFG, progress=False)
    assert report.done == ["blues.00000"] and report.skipped == ["blues.00001"]
    np.testing.assert_array_equal(cache.FeatureCache(directory).load("blues.00000", "music"), good)


@pytest.mark.parametrize("damage", ["wrong shape", "float64"])
def test_load_refuses_an_array_that_does_not_match_its_index_entry(extracted, damage):
    _, directory = extracted
    path = _npy(directory)
    good = np.load(path)
    np.save(path, good[:-1] if damage == "wrong shape" else good.astype(np.float64))
    with pytest.raises(DataError, match=str(path)):
        cache.FeatureCache(directory).load("blues.00000", "music")


def test_extract_rebuilds_an_array_whose_content_changed(extracted):
    tracks, directory = extracted
    path = _npy(directory)
    damaged = np.load(path)
    damaged[3, 2] = np.nan
    np.save(path, damaged)
    report = extraction.extract(tracks, directory, CFG, progress=False)
    assert report.done == ["blues.00000"]
    assert np.isfinite(cache.FeatureCache(directory).load("blues.00000", "music")).all()


def test_extract_hashes_only_arrays_whose_mtime_changed(extracted, monkeypatch):
    tracks, directory = extracted
    hashed = []
    real_sha256 = extraction._sha256
    monkeypatch.setattr(extraction, "_sha256", lambda path: hashed.append(pathlib.Path(path).name) or real_sha256(path))
    assert extraction.extract(tracks, directory, CFG, progress=False).done == []
    assert hashed == []  # untouched cache: no array is read again
    path = _npy(directory)
    np.save(path, np.load(path))  # same bytes, new mtime
    assert extraction.extract(tracks, directory, CFG, progress=False).done == []
    assert hashed == [path.name]
    extraction.extract(tracks, directory, CFG, progress=False)
    assert hashed == [path.name]  # its new mtime went into the index


def _rot_keeping_mtime(path):
    """Flip bytes of the array's data (not its header) and put the old mtime back: what a failing disk does."""
    st = path.stat()
    raw = bytearray(path.read_bytes())
    for i in range(len(raw) - 16, len(raw)):
        raw[i] ^= 0x5A
    path.write_bytes(bytes(raw))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_rotted_bytes_under_an_unchanged_mtime_pass_until_verify_rebuilds_them(extracted):
    """The documented trade-off (mgc_jax.data.cache, "Trust and --verify"): mtime vouches, --verify re-hashes."""
    tracks, directory = extracted
    path = _npy(directory, "stft", "blues.00001")
    good = np.load(path)
    _rot_keeping_mtime(path)
    assert extraction.extract(tracks, directory, CFG, progress=False).done == []  # trusted: same mtime, same shape
    report = extraction.extract(tracks, directory, CFG, progress=False, verify=True)
    assert report.verified == 4 and report.done == ["blues.00001"] and report.skipped == ["blues.00000"]
    assert report.rotted == ((str(path), "content differs from its SHA-256"),)
    np.testing.assert_array_equal(cache.FeatureCache(directory).load("blues.00001", "stft"), good)
    again = extraction.extract(tracks, directory, CFG, progress=False, verify=True)
    assert again.done == [] and again.rotted == () and again.verified == 4


def test_verify_rebuilds_entries_without_a_recorded_checksum(extracted):
    tracks, directory = extracted
    index = json.loads((directory / "index.json").read_text())
    del index["tracks"]["blues.00000"]["file_sha256"]
    (directory / "index.json").write_text(json.dumps(index))
    report = extraction.extract(tracks, directory, CFG, progress=False, verify=True)
    assert report.done == ["blues.00000"]
    assert {why for _, why in report.rotted} == {"no checksum recorded"} and len(report.rotted) == 2


def test_launch_extract_verify_lists_what_rotted(tmp_path, monkeypatch, capsys):
    from launchers import run_command

    monkeypatch.setattr(extraction, "_extract_batch", _fake_extract)
    for g in ("blues", "rock"):
        path = tmp_path / "gtzan" / "genres" / g / f"{g}.00000.wav"
        path.parent.mkdir(parents=True)
        sf.write(path, 0.1 * np.random.default_rng(len(g)).standard_normal(4 * SR), SR, subtype="PCM_16")
    args = (f"--data_dir={tmp_path / 'gtzan'}", f"--workdir={tmp_path / 'w'}", "--noprogress")
    assert run_command("extract", capsys, *args)[0] == 0
    path = next((tmp_path / "w" / "features").glob("*/rock.00000.music.npy"))
    _rot_keeping_mtime(path)
    code, out, err = run_command("extract", capsys, *args, "--verify")
    assert code == 0, err
    assert "1 tracks extracted now" in out
    assert f"verified 4 cached files against their SHA-256: 1 extracted again\n  {path}: content differs" in out
    code, out, _ = run_command("extract", capsys, *args, "--verify")
    assert "0 tracks extracted now" in out and "verified 4 cached files against their SHA-256: all intact" in out


@pytest.mark.parametrize("content", [b"\x89\xff\xfe\x00 binary garbage", b"", b'{"format": 1, "tracks": {"blues.0',
                                     b"[]", b'"an index"', b'{"format": 1}', b'{"format": 99, "tracks": {}}'],
                         ids=["binary", "empty", "cut", "list", "string", "no tracks", "other format"])
def test_garbage_index_is_refused_by_load_and_extract_naming_it(extracted, content):
    tracks, directory = extracted
    index = directory / "index.json"
    index.write_bytes(content)
    with pytest.raises(DataError, match=f"^{index}: (not valid JSON|not a feature index of this version)"):
        cache.FeatureCache(directory)
    with pytest.raises(DataError, match=f"^{index}: "):
        extraction.extract(tracks, directory, CFG, progress=False)


@pytest.mark.parametrize("entry", ["a string", {"files": "x"}, "missing files"], ids=["string", "files not a dict",
                                                                                     "no files"])
def test_a_damaged_index_entry_is_rebuilt_by_extract_and_refused_by_load(extracted, entry):
    tracks, directory = extracted
    index = json.loads((directory / "index.json").read_text())
    if entry == "missing files":
        del index["tracks"]["blues.00000"]["files"]
    else:
        index["tracks"]["blues.00000"] = entry
    (directory / "index.json").write_text(json.dumps(index))
    with pytest.raises(DataError, match="blues.00000"):
        cache.FeatureCache(directory).load("blues.00000", "music")
    report = extraction.extract(tracks, directory, CFG, progress=False)
    assert report.done == ["blues.00000"]


# ------------------------------------------------------------------------------------------ checkpoint folders


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A tiny finished run (2 epochs, checkpoints 1 and 2) and its fold data; copy it before damaging it."""
    from mgc_jax.train.loop import train_and_evaluate

    cfg = tiny_config(epochs=2)
    data = make_fold_data(cfg.kinds)
    res = train_and_evaluate(cfg, tmp_path_factory.mktemp("run") / "run", data, in_bins=WIDTHS)
    return res.run_dir, data


def _load_trained(run_dir, data):
    from mgc_jax.serve.inference import load_trained

    return load_trained(run_dir)


def _resume(run_dir, data):
    from mgc_jax.train.loop import train_and_evaluate

    return train_and_evaluate(tiny_config(epochs=3), run_dir, data, in_bins=WIDTHS)


def _from_checkpoint(run_dir, data):
    from mgc_jax.serve.inference import Classifier

    return Classifier.from_checkpoint(run_dir)


PATHS = {"load_trained": _load_trained, "resume": _resume, "from_checkpoint": _from_checkpoint}


def _each(pattern):
    def apply(run_dir, fn):
        files = [p for p in (run_dir / "checkpoints").rglob(pattern) if p.is_file()]
        assert files, pattern
        for p in files:
            fn(p)

    return apply


def _garbage(p):
    p.write_bytes(b"\x00garbage\xff" * 3)


def _truncate(p):
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])


def _replace_dir_by_file(run_dir):
    shutil.rmtree(run_dir / "checkpoints")
    (run_dir / "checkpoints").write_bytes(b"not a directory")


# damage -> (how, regex the CheckpointError must match: the directory it names and the cause)
CHECKPOINT_DAMAGE = {
    "garbage step metadata": (lambda d: _each("_CHECKPOINT_METADATA")(d, _garbage),
                              r"checkpoints/2: damaged checkpoint \(_CHECKPOINT_METADATA is not valid JSON"),
    "missing step metadata": (lambda d: _each("_CHECKPOINT_METADATA")(d, pathlib.Path.unlink),
                              r"checkpoints/2: damaged checkpoint \(_CHECKPOINT_METADATA is missing\)"),
    "garbage array metadata": (lambda d: _each("state/_METADATA")(d, _garbage),
                               r"checkpoints/2: damaged checkpoint \(its array files cannot be read"),
    "missing array metadata": (lambda d: _each("state/_METADATA")(d, pathlib.Path.unlink),
                               r"checkpoints/2: damaged checkpoint \(its metadata cannot be read"),
    "garbage ocdbt manifest": (lambda d: _each("manifest.ocdbt")(d, _garbage),
                               r"checkpoints/2: damaged checkpoint \(its array files cannot be read"),
    "every file truncated": (lambda d: _each("*")(d, _truncate),
                             r"checkpoints: cannot open checkpoint directory \(damaged step directories: 1, 2;"),
    "garbage metrics of step 1": (lambda d: _garbage(d / "checkpoints" / "1" / "metrics" / "metrics"),
                                  r"checkpoints: cannot open checkpoint directory \(damaged step directories: 1;"),
    "checkpoints is a file": (_replace_dir_by_file, r"checkpoints: not a directory"),
}


@pytest.fixture
def damaged_copy(trained_run, tmp_path):
    run_dir, data = trained_run

    def make(how):
        copy = tmp_path / "run"
        shutil.copytree(run_dir, copy)
        how(copy)
        return copy, data

    return make


# orbax's aborted async reads leave un-awaited coroutines behind; they are noise here, not failures.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning", "ignore::RuntimeWarning")
@pytest.mark.parametrize("path", list(PATHS))
@pytest.mark.parametrize("damage", list(CHECKPOINT_DAMAGE))
def test_a_damaged_checkpoint_is_refused_naming_the_directory(damaged_copy, damage, path):
    how, message = CHECKPOINT_DAMAGE[damage]
    run_dir, data = damaged_copy(how)
    with pytest.raises(CheckpointError, match=f"^{run_dir}/{message}"):
        PATHS[path](run_dir, data)


@pytest.mark.parametrize("path", list(PATHS))
def test_a_missing_commit_marker_is_harmless(damaged_copy, path):
    """commit_success.txt only marks completion for object stores; the saved digest vouches for the content."""
    run_dir, data = damaged_copy(lambda d: _each("commit_success.txt")(d, pathlib.Path.unlink))
    PATHS[path](run_dir, data)


def _edit_config(edit):
    def how(run_dir):
        config = json.loads((run_dir / "config.json").read_text())
        (run_dir / "config.json").write_text(json.dumps(edit(config)))

    return how


def _drop(key):
    return _edit_config(lambda c: {k: v for k, v in c.items() if k != key})


@pytest.mark.parametrize("path", ["load_trained", "from_checkpoint"])
@pytest.mark.parametrize("damage", [
    pytest.param(_drop("in_bins"), id="no in_bins"),
    pytest.param(_edit_config(lambda c: {**c, "features": {"bogus": 1}}), id="bad features"),
    pytest.param(lambda d: (d / "config.json").write_bytes(b"\xff\xfe garbage"), id="binary"),
    pytest.param(lambda d: (d / "config.json").write_text("[1, 2]"), id="list"),
    pytest.param(lambda d: (d / "config.json").unlink(), id="missing"),
])
def test_a_damaged_run_config_is_refused_naming_the_run(damaged_copy, damage, path):
    run_dir, data = damaged_copy(damage)
    with pytest.raises(CheckpointError, match=f"^{run_dir}"):
        PATHS[path](run_dir, data)


@pytest.mark.parametrize("damage", [
    pytest.param(lambda d: (d / "config.json").write_bytes(b"\xff\xfe garbage"), id="binary"),
    pytest.param(lambda d: (d / "config.json").write_text("[1, 2]"), id="list"),
])
def test_resume_refuses_a_damaged_run_config(damaged_copy, damage):
    run_dir, data = damaged_copy(damage)
    with pytest.raises(CheckpointError, match=f"^{run_dir}/config.json: damaged run config"):
        _resume(run_dir, data)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning", "ignore::RuntimeWarning")
def test_launch_predict_reports_a_damaged_checkpoint_in_one_line(damaged_copy, tmp_path, capsys):
    """The launch wrapper turns the CheckpointError into one `error:` line naming the directory, exit status 1."""
    from absl import flags

    from launch import common, predict

    how, message = CHECKPOINT_DAMAGE["garbage step metadata"]
    run_dir, _ = damaged_copy(how)
    audio = tmp_path / "a.wav"
    sf.write(audio, np.zeros(4 * SR), SR)
    try:
        argv = flags.FLAGS(["launch.predict", f"--checkpoint={run_dir}", str(audio)])
        with pytest.raises(SystemExit) as exit_:
            common.one_line_errors(predict.main)(argv)
    finally:
        flags.FLAGS.unparse_flags()
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 1
    assert len(err) >= 1 and err[-1].startswith(f"error: {run_dir}/checkpoints/2: damaged checkpoint")


def test_launch_predict_reports_damaged_arrays_in_one_line_without_orbax_internals(damaged_copy, tmp_path):
    """Flipped bytes in the array files of every kept step: one stderr line naming the best step and "damaged";
    none of orbax's handler registries, tensorstore specs or asyncio task dumps."""
    import os
    import subprocess
    import sys

    def flip_arrays(run_dir):
        for p in (run_dir / "checkpoints").rglob("d/*"):
            if p.is_file():
                p.write_bytes(bytes(b ^ 0xFF for b in p.read_bytes()))

    run_dir, _ = damaged_copy(flip_arrays)
    audio = tmp_path / "a.wav"
    sf.write(audio, np.zeros(4 * SR), SR)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(pathlib.Path(__file__).parents[1]),
                                                       os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-m", "launch.predict", f"--checkpoint={run_dir}", str(audio)],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 1
    message = (f"error: {run_dir}/checkpoints/2: damaged checkpoint (its array files cannot be read); "
               "delete this directory to resume from an earlier checkpoint")
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(message), proc.stderr[-3000:]
    # Known, intermittent: tensorstore reads left running by the failed load may print "Event loop is closed"
    # tracebacks from uvloop's threads (not through logging, so no filter catches them); orbax's own records,
    # its handler registries and the asyncio task dumps never appear.
    for word in ("orbax", "tensorstore", "never retrieved", "NoEntryError"):
        assert word not in proc.stderr, proc.stderr[-3000:]


@pytest.mark.parametrize("path", ["load_trained", "from_checkpoint"])
def test_a_deleted_best_checkpoint_is_an_error_not_a_silent_switch_to_another_epoch(damaged_copy, path):
    from mgc_jax.serve.inference import load_trained
    from mgc_jax.train import rundir

    run_dir, data = damaged_copy(lambda d: None)
    best = rundir.read_result(run_dir)["best_epoch"]
    shutil.rmtree(run_dir / "checkpoints" / str(best))
    other = 3 - best  # the 2-epoch run keeps epochs 1 and 2
    with pytest.raises(CheckpointError, match=rf"^{run_dir}/checkpoints: the checkpoint of the best epoch {best} "
                                              rf"\(result.json\) is missing \(kept: {other}\); restore it, or run "
                                              "launch.train again"):
        PATHS[path](run_dir, data)
    assert load_trained(run_dir, step=other).epoch == other  # the explicit way to use a kept epoch
    with pytest.raises(CheckpointError, match=rf"no checkpoint of epoch {best} \(kept: {other}\)"):
        load_trained(run_dir, step=best)
