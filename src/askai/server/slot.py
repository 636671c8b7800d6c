"""The one local model slot and its bounded queue: questions wait their turn, and when the
queue is full a new one is turned away at once (HTTP 429 with Retry-After) instead of piling up.

    >>> slot = ModelSlot(queue_size=2, retry_after_s=5)
    >>> ticket = slot.admit()           # raises ServerBusyError when 1 + 2 are already in
    >>> async def run():                # doctest: +SKIP
    ...     async with ticket:          # waits for the model; released on exit (or cancel)
    ...         ...
"""

from __future__ import annotations

import asyncio
from types import TracebackType

from askai.errors import AskaiError


class ServerBusyError(AskaiError):
    """The model is busy and its queue is full."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class ModelSlot:
    """One question at a time on the model; at most ``queue_size`` more waiting. Use from one
    event loop."""

    def __init__(self, queue_size: int, retry_after_s: int) -> None:
        self.queue_size = queue_size
        self.retry_after_s = retry_after_s
        self.admitted = 0  # running + waiting
        self._lock: asyncio.Lock | None = None

    @property
    def lock(self) -> asyncio.Lock:
        if self._lock is None:  # made inside the running loop
            self._lock = asyncio.Lock()
        return self._lock

    def admit(self) -> Ticket:
        """A place in the queue, or :class:`ServerBusyError` when there is none."""
        if self.admitted >= 1 + self.queue_size:
            raise ServerBusyError(
                f"askai is busy: one question is being answered and {self.queue_size} are "
                f"waiting (setting server.queue_size); retry in {self.retry_after_s} s",
                self.retry_after_s,
            )
        self.admitted += 1
        return Ticket(self)


class Ticket:
    """A place in the queue: ``async with`` waits for the model and holds it. :meth:`release`
    gives the place back (idempotent; also on exit), so a request that never ran frees it too."""

    def __init__(self, slot: ModelSlot) -> None:
        self._slot = slot
        self._held = False
        self._released = False

    async def __aenter__(self) -> Ticket:
        await self._slot.lock.acquire()
        self._held = True
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()

    def release(self) -> None:
        if self._held:
            self._held = False
            self._slot.lock.release()
        if not self._released:
            self._released = True
            self._slot.admitted -= 1
