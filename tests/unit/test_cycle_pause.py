"""The cycle collector is held off while followers apply a batch, and only then."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

from projections.runner import _CyclePause


@pytest.fixture(autouse=True)
def _collector_restored() -> Iterator[None]:
    was_on = gc.isenabled()
    yield
    (gc.enable if was_on else gc.disable)()


def test_the_collector_is_off_during_a_batch_and_on_again_after() -> None:
    gc.enable()
    pause = _CyclePause()
    with pause.paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_it_comes_back_on_after_a_batch_that_fails() -> None:
    gc.enable()
    pause = _CyclePause()
    with pytest.raises(RuntimeError), pause.paused():
        raise RuntimeError("a batch failed")
    assert gc.isenabled()


def test_it_stays_off_while_any_batch_of_the_process_runs() -> None:
    gc.enable()
    pause = _CyclePause()
    inside, release = threading.Event(), threading.Event()

    def other_batch() -> None:
        with pause.paused():
            inside.set()
            release.wait(5)

    thread = threading.Thread(target=other_batch)
    thread.start()
    assert inside.wait(5)
    with pause.paused():
        assert not gc.isenabled()
    assert not gc.isenabled()  # the other batch still runs
    release.set()
    thread.join(5)
    assert gc.isenabled()


def test_a_collector_turned_off_before_stays_off() -> None:
    gc.disable()
    pause = _CyclePause()
    with pause.paused():
        assert not gc.isenabled()
    assert not gc.isenabled()
