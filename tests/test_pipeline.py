"""mgc_jax.data.pipeline: in-order look-ahead in threads with a bounded window, and the background writer."""
from __future__ import annotations

import threading
import time

import pytest

from mgc_jax.data import pipeline


@pytest.mark.parametrize("workers", [0, 1, 3])
def test_ordered_keeps_the_order_of_the_items(workers):
    def slow_for_small(i):
        time.sleep(0.002 * (10 - i))  # later items finish first
        return i * i

    got = list(pipeline.ordered(slow_for_small, range(10), workers=workers, ahead=4))
    assert got == [(i, i * i) for i in range(10)]


def test_ordered_never_works_more_than_ahead_items_beyond_the_consumer():
    lock, started, consumed, worst = threading.Lock(), [0], [0], [0]

    def work(i):
        with lock:
            started[0] += 1
            worst[0] = max(worst[0], started[0] - consumed[0])
        return i

    for _ in pipeline.ordered(work, range(200), workers=4, ahead=5):
        time.sleep(0.0005)  # a slow consumer: the workers would run far ahead if nothing held them
        with lock:
            consumed[0] += 1
    # the item the consumer holds + `ahead` started beyond it
    assert 1 <= worst[0] <= 5 + 1


def test_ordered_raises_an_items_exception_when_the_consumer_reaches_it():
    def work(i):
        if i == 3:
            raise ValueError("item 3")
        return i

    got = []
    with pytest.raises(ValueError, match="item 3"):
        for i, _ in pipeline.ordered(work, range(10), workers=2, ahead=4):
            got.append(i)
    assert got == [0, 1, 2]


def test_ordered_stopped_early_starts_nothing_more():
    calls = []
    gen = pipeline.ordered(calls.append, range(1000), workers=2, ahead=3)
    next(gen)
    gen.close()  # cancels what has not started, waits for what has
    n = len(calls)
    time.sleep(0.05)
    assert n == len(calls) <= 1 + 3


def test_ordered_refuses_an_empty_window():
    with pytest.raises(ValueError, match="ahead=0"):
        list(pipeline.ordered(str, range(3), workers=2, ahead=0))


def test_background_runs_items_in_order_on_another_thread():
    seen, main = [], threading.get_ident()
    writer = pipeline.Background(lambda x: seen.append((x, threading.get_ident() != main)), depth=2)
    for i in range(20):
        writer.put(i)
    writer.close()
    assert seen == [(i, True) for i in range(20)]


def test_background_hands_its_first_error_to_the_producer_and_drops_later_items():
    seen = []

    def write(x):
        if x == 2:
            raise OSError("disk full")
        seen.append(x)

    writer = pipeline.Background(write, depth=1)
    with pytest.raises(OSError, match="disk full"):
        for i in range(100):
            writer.put(i)
    with pytest.raises(OSError, match="disk full"):
        writer.close()
    assert seen == [0, 1]


def test_background_close_without_raising_returns_the_error():
    def write(x):
        raise KeyboardInterrupt

    writer = pipeline.Background(write, depth=1)
    writer.put(0)
    assert isinstance(writer.close(raise_error=False), KeyboardInterrupt)


def test_background_put_blocks_while_the_queue_is_full():
    gate = threading.Event()
    writer = pipeline.Background(lambda x: gate.wait(), depth=1)
    writer.put(0)  # taken by the thread, which waits at the gate
    time.sleep(0.05)
    writer.put(1)  # fills the queue
    done = threading.Event()
    threading.Thread(target=lambda: (writer.put(2), done.set()), daemon=True).start()
    assert not done.wait(0.2)  # blocked: memory does not grow behind a slow writer
    gate.set()
    assert done.wait(5)
    writer.close()
