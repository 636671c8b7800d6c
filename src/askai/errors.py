"""Errors askai raises. Each message names the bad value and says what to do about it."""

from __future__ import annotations

from pathlib import Path


class AskaiError(Exception):
    """Base class of every error askai raises on purpose."""


class ConfigError(AskaiError, ValueError):
    """A setting or argument has a value askai cannot use."""


class InputError(AskaiError, ValueError):
    """A question or call argument is invalid (empty, too long, out of range)."""


class IndexNotFoundError(AskaiError):
    """The vector index is missing or empty."""


class IndexCorruptError(AskaiError):
    """The vector index exists but cannot be read or was written by another format version."""


class ModelNotFoundError(AskaiError):
    """A model (embedder or LLM weights) could not be found or failed verification."""


class LLMError(AskaiError):
    """The language model backend failed while generating."""


class UnsupportedBuildError(LLMError):
    """The installed llama.cpp was built with CPU features that crash or are missing here."""


class IngestError(AskaiError):
    """One file could not be ingested."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class IndexReadOnlyError(AskaiError):
    """The vector index cannot be written: its folder or database file is read-only."""


class IndexBusyError(AskaiError):
    """Another process holds the index (writing to it) longer than the lock timeout allows."""


class StoreWriteError(AskaiError):
    """The store could not be written (the disk is full, or the folder is not writable)."""
