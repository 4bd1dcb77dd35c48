"""A Ctrl-C swallowed by a finalizer still stops the training loop."""

from __future__ import annotations

import os
import signal
import sys

import pytest

from vaekit.training import interrupt


class Finalizer:
    """Like a progress bar whose ``__del__`` is running when Ctrl-C comes."""

    def __del__(self) -> None:
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(100_000):  # the handler runs here: its exception is swallowed
            pass


def test_an_interrupt_swallowed_by_a_finalizer_is_raised_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    swallowed: list[type[BaseException] | None] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: swallowed.append(u.exc_type))
    with interrupt.interruptible():
        interrupt.check()  # nothing pending
        Finalizer()  # dropped at once: __del__ swallows the KeyboardInterrupt
        assert swallowed == [KeyboardInterrupt]
        with pytest.raises(KeyboardInterrupt):
            interrupt.check()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    interrupt.check()  # outside: forgotten


def test_a_plain_ctrl_c_raises_at_once() -> None:
    with pytest.raises(KeyboardInterrupt), interrupt.interruptible():
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(100_000):
            pass


def test_an_ignored_sigint_stays_ignored() -> None:
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with interrupt.interruptible():
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, before)
