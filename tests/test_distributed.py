"""Several processes: the worked two-process example on one machine, and the cache's per-process index shards.

`test_two_process_extraction_*` runs WORKSPACE.md's example: two `python -m launch.extract` processes with
`--coordinator_address=127.0.0.1:<free port> --num_processes=2 --process_id=0|1` (jax.distributed on CPU, gloo
collectives) share a tiny corpus and one cache, which must come out complete, collision-free and equal to a
single-process extraction. `test_two_process_training_*` trains a tiny run with two processes feeding halves of
every global batch (this file run as `python tests/test_distributed.py --train-worker ...`). The shard tests
play several processes in this one by setting what `mgc_jax.distributed` reports.
"""
from __future__ import annotations

import json
import os
import pathlib
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile as sf

REPO = pathlib.Path(__file__).resolve().parents[1]
SR = 22050
TIMEOUT_S = 60


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_processes(commands: list[list[str]], *, cwd=REPO, devices: int = 1) -> list[subprocess.CompletedProcess]:
    """Start every command at once (the processes of one run), wait for all; kill them all on a timeout.

    Output goes to files, not pipes: a process blocked on a full pipe would never reach the barrier the
    others wait at.
    """
    import tempfile

    env = {**os.environ, "JAX_PLATFORMS": "cpu",
           "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests" / "support"), os.environ.get("PYTHONPATH", "")])}
    env.pop("XLA_FLAGS", None)
    if devices > 1:
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    with tempfile.TemporaryDirectory() as logs:
        files = [(open(f"{logs}/{i}.out", "w+"), open(f"{logs}/{i}.err", "w+")) for i in range(len(commands))]
        procs = [subprocess.Popen(c, cwd=cwd, env=env, stdout=o, stderr=e, text=True)
                 for c, (o, e) in zip(commands, files)]
        deadline = time.monotonic() + TIMEOUT_S
        try:
            for p in procs:
                try:
                    p.wait(timeout=max(deadline - time.monotonic(), 0.1))
                except subprocess.TimeoutExpired:  # reported below as the killed process's exit status
                    break
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
        results = []
        for c, p, (o, e) in zip(commands, procs, files):
            o.seek(0)
            e.seek(0)
            results.append(subprocess.CompletedProcess(c, p.returncode, o.read(), e.read()))
            o.close()
            e.close()
    return results


def cluster_flags(port: int, n: int, i: int) -> list[str]:
    return [f"--coordinator_address=127.0.0.1:{port}", f"--num_processes={n}", f"--process_id={i}"]


def write_corpus(root: pathlib.Path, n: int = 5, seconds: float = 7.0) -> pathlib.Path:
    rng = np.random.default_rng(3)
    for i in range(n):
        genre = ("blues", "classical", "country", "disco", "jazz")[i % 5]
        path = root / "genres" / genre / f"{genre}.{i:05d}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        t = np.arange(int(seconds * SR)) / SR
        sf.write(path, 0.2 * np.sin(2 * np.pi * 110 * (i + 2) * t) + 0.02 * rng.standard_normal(t.size), SR)
    return root


# -------------------------------------------------------------------------------- two-process example


def test_two_process_extraction_fills_one_cache_without_collisions(tmp_path):
    import dsp
    from mgc_jax.data import gtzan
    from mgc_jax.data.cache import FeatureCache
    from mgc_jax.data.extraction import extract
    from mgc_jax.workdir import Workdir

    data = write_corpus(tmp_path / "mini")
    port = free_port()
    cmd = [sys.executable, "-m", "launch.extract", f"--data_dir={data}", f"--workdir={tmp_path / 'ws'}",
           "--progress=false"]
    results = run_processes([cmd + cluster_flags(port, 2, i) for i in range(2)])
    for r in results:
        assert r.returncode == 0, r.stderr[-3000:]
    # 5 tracks, round robin: process 0 takes 3, process 1 takes 2; both then see the whole corpus.
    assert "3 tracks extracted now by process 0 of 2" in results[0].stdout, results[0].stdout
    assert "2 tracks extracted now by process 1 of 2" in results[1].stdout, results[1].stdout
    assert all("5 usable" in r.stdout for r in results)

    cfg = dsp.FeatureConfig()
    shared = Workdir(tmp_path / "ws").features_dir("mini", cfg)
    shards = [json.loads((shared / f"index.process{i}.json").read_text()) for i in range(2)]
    assert not (shared / "index.json").exists()  # nobody wrote a common file
    owned = [set(s["tracks"]) for s in shards]
    tracks = gtzan.discover(data)
    assert not owned[0] & owned[1] and owned[0] | owned[1] == {t.track_id for t in tracks}
    assert not list(shared.glob(".*.tmp"))

    single = tmp_path / "single"
    extract(tracks, single, cfg, progress=False)
    merged, alone = FeatureCache(shared), FeatureCache(single)
    assert sorted(merged.entries()) == sorted(alone.entries())
    for t in tracks:
        for kind in ("music", "stft"):
            # Same per-track program on the same CPU: the maps are expected bit-equal; 1e-5 of each column's
            # peak is the bound issue 7 sets for sharded extraction.
            a, b = merged.load(t.track_id, kind), alone.load(t.track_id, kind)
            assert np.max(np.abs(a - b) / (np.abs(b).max(axis=0) + 1e-30)) <= 1e-5, (t.track_id, kind)

    # The same two-process command again finds everything cached (each process checks its own share).
    port = free_port()
    again = run_processes([cmd + cluster_flags(port, 2, i) for i in range(2)])
    assert all(r.returncode == 0 and "0 tracks extracted now" in r.stdout for r in again), again[0].stderr[-2000:]


def train_worker(run_dir: str, port: int, n: int, i: int) -> None:
    """One process of a two-process tiny training run (data from tests/support/fake_data.py); prints its result."""
    from mgc_jax import distributed

    distributed.initialize(distributed.ClusterConfig(f"127.0.0.1:{port}", n, i))
    from fake_data import WIDTHS, make_fold_data, tiny_config

    from mgc_jax.train.loop import train_and_evaluate

    cfg = tiny_config(epochs=2)
    res = train_and_evaluate(cfg, run_dir, make_fold_data(cfg.kinds), in_bins=WIDTHS)
    lines = pathlib.Path(run_dir, "metrics.jsonl").read_text().splitlines() if i == 0 else []
    print(json.dumps({"test_accuracy": res.test_accuracy, "best_epoch": res.best_epoch, "epochs": res.epochs,
                      "metrics": [json.loads(s) for s in lines]}))


@pytest.mark.slow  # ~15-40 s on 2 cores: keeps the default suite near 10 min
def test_two_process_training_equals_one_process(tmp_path):
    from fake_data import WIDTHS, make_fold_data, tiny_config

    from mgc_jax.train.loop import train_and_evaluate

    port = free_port()
    run_dir = tmp_path / "run2"
    cmds = [[sys.executable, __file__, "--train-worker", str(run_dir), str(port), "2", str(i)] for i in range(2)]
    results = run_processes(cmds)
    for r in results:
        assert r.returncode == 0, r.stderr[-3000:]
    outs = [json.loads(r.stdout.strip().splitlines()[-1]) for r in results]
    # Metrics are computed from replicated outputs: both processes reach the same numbers.
    assert outs[0]["test_accuracy"] == outs[1]["test_accuracy"] and outs[0]["best_epoch"] == outs[1]["best_epoch"]
    # Process 0 alone writes the run files and the TensorBoard events (one event file); the lock is gone.
    assert sorted(p.name for p in run_dir.iterdir() if not p.name.startswith("events.out.tfevents.")) == \
        ["checkpoints", "config.json", "metrics.jsonl", "result.json", "test_probs.npz"]
    assert len(list(run_dir.glob("events.out.tfevents.*"))) == 1

    cfg = tiny_config(epochs=2)
    one = train_and_evaluate(cfg, tmp_path / "run1", make_fold_data(cfg.kinds), in_bins=WIDTHS)
    assert outs[0]["epochs"] == one.epochs == 2
    single = [json.loads(s) for s in (tmp_path / "run1" / "metrics.jsonl").read_text().splitlines()]
    for a, b in zip(outs[0]["metrics"], single):
        # Two processes add the gradient halves in another order than one device (float32 rounding only,
        # ~1e-7 measured); a missing or doubled half-batch would move the loss by far more than 1e-4.
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-4)
        assert a["valid_loss"] == pytest.approx(b["valid_loss"], rel=1e-4)
    p1, p2 = np.load(tmp_path / "run1" / "test_probs.npz"), np.load(run_dir / "test_probs.npz")
    np.testing.assert_allclose(p2["probs"], p1["probs"], atol=1e-4)  # same rounding-only drift as the losses


@pytest.mark.slow
def test_two_process_launch_train_resumes_and_equals_one_process_on_two_devices(tmp_path):
    """`python -m launch.train` with the cluster flags: synthetic corpus made by process 0, extraction split,
    data-parallel training, resumed by two processes; bit-identical to one process with two devices."""
    # A relative --workdir, as in WORKSPACE.md's example (orbax needs absolute paths with several processes).
    cmd = [sys.executable, "-m", "launch.train", "--net=music", "--fold=0", "--k1=8", "--tracks_per_genre=10",
           "--workdir=ws"]
    run_dir = tmp_path / "ws" / "runs" / "synthetic" / "stratified" / "music" / "fold0"
    for epochs in (1, 2):  # the second command resumes the first run's checkpoint
        port = free_port()
        results = run_processes([cmd + [f"--epochs={epochs}"] + cluster_flags(port, 2, i) for i in range(2)],
                                cwd=tmp_path)
        for r in results:
            assert r.returncode == 0, r.stderr[-3000:]
        assert results[0].stdout.splitlines()[-4:] == results[1].stdout.splitlines()[-4:]
        assert f"/{epochs}, valid track accuracy" in results[0].stdout
    assert "resuming" in results[0].stderr
    timing = ("clips_per_s", "epoch_s", "eta_s")
    read = lambda: [{k: v for k, v in json.loads(s).items() if k not in timing}  # noqa: E731
                    for s in (run_dir / "metrics.jsonl").read_text().splitlines()]
    two_processes = read()
    run_dir.rename(tmp_path / "two_processes")
    [one] = run_processes([cmd + ["--epochs=2"]], cwd=tmp_path, devices=2)
    assert one.returncode == 0, one.stderr[-3000:]
    # The same 2-device program whether the devices sit in one process or two: the same bits. (Another device
    # count adds gradients in another order, which training amplifies: see mgc_jax/train/loop.py.)
    assert [r["epoch"] for r in two_processes] == [1, 2] and read() == two_processes
    a, b = np.load(run_dir / "test_probs.npz"), np.load(tmp_path / "two_processes" / "test_probs.npz")
    np.testing.assert_array_equal(a["probs"], b["probs"])


LATE_S = 35  # longer than gloo's 30 s set-up timeout, which a first collective after a long wait would hit


def late_worker(port: int, i: int) -> None:
    """Process 1 reaches the barrier LATE_S late (as when process 0 makes the synthetic corpus); then both run
    a collective."""
    import time as time_

    from jax.experimental import multihost_utils

    from mgc_jax import distributed

    distributed.initialize(distributed.ClusterConfig(f"127.0.0.1:{port}", 2, i))
    if i == 1:
        time_.sleep(LATE_S)
    distributed.barrier("late")
    multihost_utils.sync_global_devices("after the late barrier")
    print("ok")


@pytest.mark.slow
def test_a_barrier_waits_for_a_late_process_and_collectives_still_work(tmp_path):
    port = free_port()
    results = run_processes([[sys.executable, __file__, "--late-worker", str(port), str(i)] for i in range(2)])
    for r in results:
        assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stderr[-3000:]


# ---------------------------------------------------------------------------------- flags and sharing


def test_share_is_a_disjoint_round_robin_cover():
    from mgc_jax.distributed import share

    items = list(range(11))
    parts = [share(items, i, 3) for i in range(3)]
    assert parts == [[0, 3, 6, 9], [1, 4, 7, 10], [2, 5, 8]]
    with pytest.raises(ValueError, match="outside 0..2"):
        share(items, 3, 3)


@pytest.mark.parametrize("kw,message", [
    ({"num_processes": 2}, "needs a coordinator_address"),
    ({"coordinator_address": "h:1", "num_processes": 2, "process_id": 2}, r"process_id=2: expected 0\.\.1"),
    ({"coordinator_address": "localhost", "num_processes": 2, "process_id": 0}, "expected host:port"),
])
def test_cluster_config_names_the_bad_value(kw, message):
    from mgc_jax.distributed import ClusterConfig

    with pytest.raises(ValueError, match=message):
        ClusterConfig(**kw)


def test_incomplete_cluster_flags_are_a_usage_error(tmp_path):
    r = subprocess.run([sys.executable, "-m", "launch.extract", f"--workdir={tmp_path}", "--num_processes=2"],
                       cwd=REPO, capture_output=True, text=True, timeout=120,
                       env={**os.environ, "PYTHONPATH": str(REPO)})
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1] == ("error: a multi-process run needs --coordinator_address, "
                                                 "--num_processes and --process_id together "
                                                 "(--coordinator_address, --process_id missing)")


def test_a_process_without_process_0_says_what_it_waits_for_and_times_out():
    from mgc_jax.distributed import ClusterConfig, initialize
    from mgc_jax.errors import ClusterError

    port = free_port()  # nobody listens there: process 0 was never started
    cluster = ClusterConfig(coordinator_address=f"127.0.0.1:{port}", num_processes=2, process_id=1, timeout_s=1)
    t0 = time.monotonic()
    with pytest.raises(ClusterError, match=rf"^process 1 of 2: no coordinator at 127\.0\.0\.1:{port} after 1 s "
                                           r"\(.*\): start process 0 \(--process_id=0\)"):
        initialize(cluster)  # raises before jax.distributed is touched
    assert time.monotonic() - t0 < 60


def test_launch_without_process_0_is_one_line_after_the_wait(tmp_path):
    port = free_port()
    r = subprocess.run([sys.executable, "-m", "launch.extract", f"--workdir={tmp_path / 'w'}",
                        f"--coordinator_address=127.0.0.1:{port}", "--num_processes=2", "--process_id=1",
                        "--coordinator_timeout_s=1"],
                       cwd=REPO, capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)})
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert lines[0] == f"process 1 of 2: waiting up to 1 s for process 0's coordinator and the others at 127.0.0.1:{port}"
    assert lines[-1].startswith(f"error: process 1 of 2: no coordinator at 127.0.0.1:{port} after 1 s")
    assert not (tmp_path / "w").exists()


# ------------------------------------------------------------------- index shards, played in one process


@pytest.fixture
def as_process(monkeypatch):
    """as_process(i, n): make mgc_jax.distributed report process i of n (barriers stay no-ops: one real process)."""
    import fake_extraction

    from mgc_jax import distributed

    fake_extraction.install(monkeypatch, "level")  # the shard logic is under test, not dsp

    def set_(i: int, n: int):
        monkeypatch.setattr(distributed, "process_index", lambda: i)
        monkeypatch.setattr(distributed, "process_count", lambda: n)

    return set_


def _tracks(root: pathlib.Path, n: int = 5):
    from mgc_jax.data import gtzan

    return gtzan.discover(write_corpus(root, n, seconds=1.0))


def test_each_process_writes_only_its_shard_and_readers_merge(tmp_path, as_process):
    import dsp
    from mgc_jax.data import cache, extraction

    cfg, tracks, out = dsp.FeatureConfig(), _tracks(tmp_path / "a"), tmp_path / "f"
    reports = []
    for i in range(2):
        as_process(i, 2)
        reports.append(extraction.extract(tracks, out, cfg, progress=False))
    assert [len(r.done) for r in reports] == [3, 2]
    assert sorted(p.name for p in out.glob("index*.json")) == ["index.process0.json", "index.process1.json"]
    fc = cache.FeatureCache(out)
    assert sorted(fc.entries()) == sorted(t.track_id for t in tracks) and fc.config == cfg
    # Back to one process: nothing to extract, the shards are folded into index.json and removed.
    as_process(0, 1)
    again = extraction.extract(tracks, out, cfg, progress=False)
    assert again.done == [] and len(again.skipped) == 5
    assert [p.name for p in out.glob("index*.json")] == ["index.json"]
    assert cache.FeatureCache(out).entries() == fc.entries()


def test_newer_records_win_over_stale_shards(tmp_path, as_process):
    """Shards left by an earlier 4-process run must not hide what a later 2-process run found."""
    import dsp
    from mgc_jax.data import cache, extraction

    cfg, tracks, out = dsp.FeatureConfig(), _tracks(tmp_path / "a"), tmp_path / "f"
    for i in range(4):  # shares: [0, 4], [1], [2], [3]
        as_process(i, 4)
        extraction.extract(tracks, out, cfg, progress=False)
    old = cache.FeatureCache(out).entries()
    # Now 2 processes (shares [0, 2, 4] and [1, 3]): processes 2 and 3 do not exist to rewrite their shards,
    # which keep the old entries of tracks 2 and 3. Track 3 gets new audio, track 2 becomes unreadable.
    broken, changed = tracks[2], tracks[3]
    pathlib.Path(broken.path).write_bytes(b"")
    sf.write(changed.path, np.full(int(1.5 * SR), 0.5), SR)
    done = {}
    for i in range(2):
        as_process(i, 2)
        r = extraction.extract(tracks, out, cfg, progress=False)
        done[i] = (r.done, [p for p, _ in r.failed])
    assert done == {0: ([], [broken.path]), 1: ([changed.track_id], [])}
    for i, t in ((2, broken), (3, changed)):  # the stale copies are still there...
        assert t.track_id in json.loads((out / f"index.process{i}.json").read_text())["tracks"]
    fc = cache.FeatureCache(out)  # ...and lose to the newer records
    assert broken.track_id not in fc.entries()
    assert fc.failures()[broken.track_id]["cause"].startswith("empty file")
    assert fc.entries()[changed.track_id]["n_samples"] == int(1.5 * SR) != old[changed.track_id]["n_samples"]
    assert fc.load(changed.track_id, "music").shape[0] == fc.entries()[changed.track_id]["n_frames"]
    assert sorted(fc.entries()) == sorted(t.track_id for t in tracks if t is not broken)


def test_process_failures_reach_every_process_corpus(tmp_path, as_process):
    """prepare_corpus lists a file another process failed on (from that process's shard)."""
    from mgc_jax.data.corpus import prepare_corpus
    from mgc_jax.workdir import Workdir

    data = write_corpus(tmp_path / "mini", 5, seconds=7.0)
    short = sorted(data.glob("genres/*/*.wav"))[1]  # classical.00001: process 1's share of 2 processes
    sf.write(short, np.zeros(300), SR)  # a valid file (discovery keeps it) shorter than one frame
    wd = Workdir(tmp_path / "ws")
    # Process 0 extracts its share first: one process's share alone may hold a single class, which prepare_corpus
    # refuses (its barrier normally waits for every share; here barriers are no-ops).
    as_process(0, 2)
    assert prepare_corpus(str(data), wd, progress=False).report.failed == []
    as_process(1, 2)
    assert [p for p, _ in prepare_corpus(str(data), wd, progress=False).report.failed] == [str(short)]
    as_process(0, 2)
    corpus = prepare_corpus(str(data), wd, progress=False)
    assert corpus.report.failed == []  # process 0 did not see it fail...
    [(path, cause)] = corpus.problems  # ...but reports it from process 1's shard
    assert path == str(short) and cause.startswith("too short")
    assert len(corpus.tracks) == 4


if __name__ == "__main__":
    sys.path[:0] = [str(REPO), str(REPO / "tests" / "support")]
    if sys.argv[1:2] == ["--train-worker"]:
        train_worker(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
    elif sys.argv[1:2] == ["--late-worker"]:
        late_worker(int(sys.argv[2]), int(sys.argv[3]))
