"""Driving the engine's blocking answer stream from a server's event loop: each token is taken
in a worker thread, and however the caller stops (finished, the client went away, cancelled)
the stream is closed, which stops the model's generation."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import anyio.to_thread

from askai.engine import AnswerStream
from askai.types import Answer

_END = object()


async def tokens(stream: AnswerStream) -> AsyncIterator[str]:
    """The stream's tokens; ``stream.answer`` holds the Answer once this is exhausted. Leaving
    early (break, an exception, cancellation) closes the stream: the model stops."""
    it = iter(stream)
    try:
        while True:
            token = await anyio.to_thread.run_sync(next, it, _END)
            if token is _END:
                return
            yield token  # type: ignore[misc]
    finally:
        it.close()
        stream.close()


async def answer(
    stream: AnswerStream, gone: Callable[[], Awaitable[bool]] | None = None
) -> Answer | None:
    """Run the stream to its Answer; None when ``gone()`` (checked after every token) says the
    client left, in which case generation stopped there."""
    run = tokens(stream)
    try:
        async for _ in run:
            if gone is not None and await gone():
                return None
    finally:
        await run.aclose()
    return stream.answer
