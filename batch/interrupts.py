"""SIGTERM (the spot reclaim notice) and SIGINT become a polite stop request.

The job checks :attr:`StopSignal.requested` after each inference chunk: it commits what
it has (part, cache, checkpoint) and exits ``128 + signal`` (143 for SIGTERM), which the
AWS Batch job definition retries. A second Ctrl-C stops at once.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from batch import exit_codes

HANDLED = (signal.SIGTERM, signal.SIGINT)
_EXIT_CODES: dict[int, int] = {
    signal.SIGTERM: exit_codes.INTERRUPTED,
    signal.SIGINT: exit_codes.INTERRUPTED_SIGINT,
}


class StopSignal:
    def __init__(self) -> None:
        self.signum: int | None = None

    @property
    def requested(self) -> bool:
        return self.signum is not None

    @property
    def exit_code(self) -> int:
        return _EXIT_CODES.get(self.signum or 0, 128 + (self.signum or 0))

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum else ""

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum == signal.SIGINT and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signum = self.signum or signum


@contextmanager
def stop_on_signals() -> Iterator[StopSignal]:
    """Install the handlers (main thread only; elsewhere the flag simply never rises)."""
    stop = StopSignal()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = {s: signal.signal(s, stop._handle) for s in HANDLED}
    try:
        yield stop
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
