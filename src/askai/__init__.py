"""askai: local, private, retrieval-augmented Q&A whose answers are checked against their sources.

    >>> import askai
    >>> engine = askai.build_engine()                       # doctest: +SKIP
    >>> askai.ingest(["ingest/"], engine=engine)            # doctest: +SKIP
    >>> a = askai.ask("Which firms pioneer chiplets?", engine=engine)  # doctest: +SKIP
    >>> a.text, a.refused, a.citations                      # doctest: +SKIP
"""

from askai.engine import AnswerStream, Engine, ask, ask_stream, build_engine, ingest
from askai.errors import AskaiError
from askai.settings import Settings
from askai.types import Answer, Citation, IngestReport

__all__ = [
    "Answer",
    "AnswerStream",
    "AskaiError",
    "Citation",
    "Engine",
    "IngestReport",
    "Settings",
    "ask",
    "ask_stream",
    "build_engine",
    "ingest",
]
__version__ = "0.1.0"
