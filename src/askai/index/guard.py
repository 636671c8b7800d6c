"""One embedded index, several processes: who may write, and when readers must reopen.

Chroma's embedded ``PersistentClient`` is not process-safe: two clients writing one folder can
corrupt its HNSW segments, and a client in another process keeps serving the vectors it loaded
(deleted chunks come back as ids without records: chromadb's "Error finding id", or ``None``
metadata). The guard makes an embedded index behave like the databases under it:

- **one writer at a time**: every ingest, delete and reset holds ``askai.lock`` (``filelock``)
  for the whole operation; a second writer waits, saying which pid holds the index (read from
  ``askai.lock.holder``, for the message only), up to ``ASKAI_STORE__LOCK_TIMEOUT_S``, then fails
  with :class:`~askai.errors.IndexBusyError`;
- **readers never see a write in progress**: each store write call holds the exclusive side of
  a reader/writer lock (``askai.rw.lock``, filelock's SQLite ``ReadWriteLock``), each question
  (its whole retrieval) the shared side, so a reader never loads segments mid-write nor mixes
  two states of the index;
- **readers never see stale segments**: after each write call the writer replaces
  ``askai.generation`` (write, fsync, rename); a reader whose client was opened at another
  generation reopens it before reading.

The kernel releases both locks when their process dies (also by ``kill -9``), so whatever a
writer finds half-written while it holds ``askai.lock`` was left by a dead writer.

A full disk must not take the index down with it: Chroma appends a write to its log before it
applies it, and a read first applies what the log holds, which needs disk space. So a writer
keeps ``askai.reserve``, a file of ``ASKAI_STORE__RESERVE_MB`` in the index folder, and gives that
space back when a write fails for want of space: the readers can then apply the failed batch
and answer with the documents the index had. The next writer makes the reserve again first, and
fails with "disk full" before it touches the index while it cannot.
"""

from __future__ import annotations

import errno
import logging
import os
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from askai.errors import IndexBusyError, StoreWriteError

log = logging.getLogger(__name__)

LOCK_NAME = "askai.lock"
HOLDER_NAME = "askai.lock.holder"
RW_NAME = "askai.rw.lock"
GENERATION_NAME = "askai.generation"
RESERVE_NAME = "askai.reserve"
GUARD_FILES = (LOCK_NAME, HOLDER_NAME, RW_NAME, GENERATION_NAME, RESERVE_NAME)

_SERVER_HINT = (
    "several processes that must write at once need a Chroma server "
    "(ASKAI_STORE__BACKEND=chroma-http, see README 'Scaling out')"
)


class _LocalReadWrite:
    """Readers and a re-opener inside one process (readers first: a nested read never waits)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writing = False

    @contextmanager
    def read(self) -> Iterator[None]:
        with self._cond:
            while self._writing:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextmanager
    def write(self) -> Iterator[None]:
        with self._cond:
            while self._writing or self._readers:
                self._cond.wait()
            self._writing = True
        try:
            yield
        finally:
            with self._cond:
                self._writing = False
                self._cond.notify_all()


class IndexGuard:
    """The locks and the generation file of one embedded index folder."""

    def __init__(self, folder: Path, timeout_s: float, reserve_bytes: int = 0) -> None:
        import filelock

        self.folder = folder
        self.timeout_s = timeout_s
        self.reserve_bytes = reserve_bytes
        self._reserve = folder / RESERVE_NAME
        self._writer = filelock.FileLock(folder / LOCK_NAME)  # one fd per thread
        self._holder = folder / HOLDER_NAME
        self._generation = folder / GENERATION_NAME
        self._rw_path = folder / RW_NAME
        self._threads = threading.local()  # a ReadWriteLock per thread (each waits on its own)
        self.local = _LocalReadWrite()
        self.seen = ""  # the generation this process's client reflects

    # -- the writer lock (whole operations) ------------------------------------------------------
    def holder(self) -> str:
        """Who holds the writer lock, as written by the holder ("pid N (command)"); for messages."""
        try:
            return self._holder.read_text(encoding="utf-8").strip() or "another process"
        except OSError:
            return "another process"

    @contextmanager
    def writer(self) -> Iterator[None]:
        """Hold the index for a whole write operation (ingest, delete, reset)."""
        import filelock

        try:
            self._writer.acquire(timeout=0)
        except filelock.Timeout:
            log.warning("askai: waiting for the index at %s, held by %s (up to %.0f s, "
                        "ASKAI_STORE__LOCK_TIMEOUT_S)", self.folder, self.holder(), self.timeout_s)
            try:
                self._writer.acquire(timeout=self.timeout_s)
            except filelock.Timeout:
                raise IndexBusyError(
                    f"The index at {self.folder} is being written by {self.holder()}; waited "
                    f"{self.timeout_s:.0f} s (ASKAI_STORE__LOCK_TIMEOUT_S). Try again when it has "
                    f"finished; {_SERVER_HINT}."
                ) from None
        try:
            if self._writer.lock_counter == 1:
                command = " ".join(os.path.basename(a) if i == 0 else a
                                   for i, a in enumerate(sys.argv))[:200]
                self._holder.write_text(f"pid {os.getpid()} ({command})\n", encoding="utf-8")
            yield
        finally:
            self._writer.release()

    # -- the space a failed write gives back ---------------------------------------------------
    def ensure_reserve(self) -> None:
        """Make sure the reserve file is there, at its size; called by a writer holding the
        writer lock, before it writes. Fails with "disk full" while the space is not free."""
        want = self.reserve_bytes
        try:
            have = self._reserve.stat().st_size
        except FileNotFoundError:
            have = -1
        if have == want or (want == 0 and have < 0):
            return
        if want == 0:
            self._reserve.unlink(missing_ok=True)
            return
        tmp = self._reserve.with_name(f"{RESERVE_NAME}.{os.getpid()}.tmp")
        try:
            with open(tmp, "wb") as f:
                # real blocks, not a sparse file: the point is space that is taken
                os.posix_fallocate(f.fileno(), 0, want)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self._reserve)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            if exc.errno != errno.ENOSPC:
                raise
            raise StoreWriteError(
                f"disk full: the index at {self.folder} cannot be written, because askai keeps "
                f"{want / 2**20:.0f} MB free beside it (so the index can still answer after a "
                "failed write) and that much is not free. Free some space and run the ingest "
                "again, or lower ASKAI_STORE__RESERVE_MB."
            ) from exc

    def release_reserve(self) -> bool:
        """Give the reserve's space back (a write failed for want of space). True if it did."""
        try:
            self._reserve.unlink()
        except FileNotFoundError:
            return False
        log.warning("askai: the disk under %s is full; released the %.0f MB reserve so the index "
                    "can still answer", self.folder, self.reserve_bytes / 2**20)
        return True

    # -- readers and write calls -----------------------------------------------------------------
    def _rw(self):  # noqa: ANN202 - filelock.ReadWriteLock, imported lazily
        lock = getattr(self._threads, "rw", None)
        if lock is None:
            import filelock

            lock = filelock.ReadWriteLock(self._rw_path, timeout=self.timeout_s,
                                          is_singleton=False)
            self._threads.rw = lock
        return lock

    @contextmanager
    def shared(self) -> Iterator[None]:
        """No write call of any process runs while this is held."""
        import filelock

        try:
            self._rw().acquire_read()
        except filelock.Timeout:
            raise IndexBusyError(
                f"The index at {self.folder} stayed busy for {self.timeout_s:.0f} s "
                f"(ASKAI_STORE__LOCK_TIMEOUT_S) while {self.holder()} wrote to it; try again."
            ) from None
        try:
            yield
        finally:
            self._rw().release()

    @contextmanager
    def exclusive(self, *, bump: bool = True) -> Iterator[None]:
        """One write call: no reader of any process reads meanwhile; afterwards the generation
        changes, so readers elsewhere reopen their clients. Opening a client is done under it
        too (``bump=False``): chromadb writes to its SQLite file while it opens, and two
        processes doing that at once get "database is locked"."""
        import filelock

        try:
            self._rw().acquire_write()
        except filelock.Timeout:
            raise IndexBusyError(
                f"Readers kept the index at {self.folder} busy for {self.timeout_s:.0f} s "
                "(ASKAI_STORE__LOCK_TIMEOUT_S); try again."
            ) from None
        try:
            yield
        finally:
            try:
                if bump:
                    self.bump()
            finally:
                self._rw().release()

    def generation(self) -> str:
        try:
            return self._generation.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return ""

    def bump(self) -> str:
        """A new generation, written atomically (a reader sees the old or the new one)."""
        value = uuid.uuid4().hex
        tmp = self._generation.with_name(f"{GENERATION_NAME}.{os.getpid()}.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(value)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self._generation)
        self.seen = value
        return value
