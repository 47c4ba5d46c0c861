"""A Ctrl-C that cannot be lost: :func:`interrupt_latch` records SIGINT before raising ``KeyboardInterrupt``.

Python prints and drops an exception raised while it runs a weakref callback or a ``__del__`` ("Exception ignored
in ..."), so a Ctrl-C that lands there would be swallowed and a long loop would run to its end. Inside the latch
the interrupt is also remembered, and :func:`raise_if_interrupted`, called by the loop between work items, raises it
again. Outside the main thread (where signal handlers cannot be set) the latch does nothing.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

_pending = threading.Event()


def _on_sigint(signum: int, frame: FrameType | None) -> None:
    _pending.set()
    raise KeyboardInterrupt


@contextmanager
def interrupt_latch() -> Iterator[None]:
    """Within the block SIGINT raises ``KeyboardInterrupt`` as usual and is remembered until the block ends."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, _on_sigint)
    _pending.clear()
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        _pending.clear()


def raise_if_interrupted() -> None:
    """Raise ``KeyboardInterrupt`` if a Ctrl-C arrived inside the current latch (even one Python dropped)."""
    if _pending.is_set():
        raise KeyboardInterrupt
