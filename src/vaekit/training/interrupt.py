"""Ctrl-C that is never lost.

Python turns SIGINT into a ``KeyboardInterrupt`` raised wherever the main thread happens to be.
When that is a finalizer (a progress bar's ``__del__``, a weakref callback), Python prints
"Exception ignored in ..." and carries on: the interrupt is swallowed and a long training goes
on for good. While :func:`interruptible` is active, SIGINT still raises at once, and it also
leaves a mark that :func:`check` turns into a fresh ``KeyboardInterrupt`` at the loop's next
step, so an interrupt that was swallowed still stops the run.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

__all__ = ["check", "interruptible"]

_pending = False


def _handler(signum: int, frame: FrameType | None) -> None:
    global _pending
    _pending = True
    raise KeyboardInterrupt


@contextmanager
def interruptible() -> Iterator[None]:
    """Within: SIGINT raises ``KeyboardInterrupt`` and is remembered for :func:`check`.

    Only where Python's own handler is in place, in the main thread: an ignored SIGINT (a
    background job) or a handler of the caller's stays as it is.
    """
    global _pending
    own = (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    )
    _pending = False
    if not own:
        yield
        return
    signal.signal(signal.SIGINT, _handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        _pending = False


def check() -> None:
    """Raise ``KeyboardInterrupt`` if a SIGINT came since :func:`interruptible` began (the
    first raise may have been swallowed by a finalizer)."""
    if _pending:
        raise KeyboardInterrupt
