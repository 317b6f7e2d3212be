"""The terminal side of long commands: a Ctrl-C that ends a loop cleanly, and a progress bar."""

from __future__ import annotations

import signal
import threading
import time
from typing import Any, TextIO


class InterruptFlag:
    """While active, the first Ctrl-C only raises a flag (the loop ends after its current step);
    a second one interrupts at once. Outside the main thread it never raises the flag."""

    def __init__(self) -> None:
        self.raised = False
        self._previous: Any = None

    def __call__(self) -> bool:
        return self.raised

    def _handle(self, signum: int, frame: Any) -> None:
        if self.raised:
            raise KeyboardInterrupt
        self.raised = True

    def __enter__(self) -> InterruptFlag:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


class ProgressBar:
    """A one-line bar on a terminal stream, shown only once a run has lasted `delay` seconds."""

    WIDTH = 30

    def __init__(self, stream: TextIO, total: int, delay: float = 0.5, interval: float = 0.1):
        self.stream = stream
        self.total = total
        self.enabled = total > 0 and _is_terminal(stream)
        self._start = time.monotonic()
        self._next_draw = self._start + delay
        self._interval = interval
        self._shown = False

    def update(self, step: int, loss: float) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now < self._next_draw:
            return
        self._next_draw = now + self._interval
        filled = self.WIDTH * step // self.total
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        self.stream.write(f"\r[{bar}] {step}/{self.total} steps  loss {loss:.6g}\x1b[K")
        self.stream.flush()
        self._shown = True

    def clear(self) -> None:
        if self._shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._shown = False


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
