"""Names that tell documents apart. A document is identified by its file's absolute path; it is
shown by the shortest ending of that path that no other document shares (``notes.txt`` alone,
``a/notes.txt`` and ``b/notes.txt`` when two folders hold one).

    >>> short_names(["/x/a/notes.txt", "/x/b/notes.txt", "/x/a/todo.md"])
    {'/x/a/notes.txt': 'a/notes.txt', '/x/b/notes.txt': 'b/notes.txt', '/x/a/todo.md': 'todo.md'}
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable


def short_names(doc_ids: Iterable[str]) -> dict[str, str]:
    """Each document id mapped to the shortest ending of its path (whole ``/``-separated parts)
    that no other id in ``doc_ids`` ends with."""
    ids = list(dict.fromkeys(doc_ids))
    parts = {d: [p for p in d.split("/") if p] or [d] for d in ids}
    depth = dict.fromkeys(ids, 1)

    def name(d: str) -> str:
        return "/".join(parts[d][-depth[d]:])

    pending = ids
    while pending:
        counts = Counter(name(d) for d in ids)
        # a name that another id also has: that id's path is an ending of this one, or they share
        # this ending; either way one more part is needed (where there is one)
        pending = [d for d in pending if counts[name(d)] > 1 and depth[d] < len(parts[d])]
        for d in pending:
            depth[d] += 1
    return {d: ("/" if d.startswith("/") and depth[d] == len(parts[d]) else "") + name(d)
            for d in ids}


def same_document(doc_id: str, path: str) -> bool:
    """Is ``doc_id`` the document at ``path``, a path relative to some folder (as eval sets name
    their gold documents: ``corpus/000_2f63.txt``)? Also true for equal ids."""
    return doc_id == path or doc_id.endswith("/" + path.lstrip("/"))
