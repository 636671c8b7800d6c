"""Deterministic, offline checks of claims against evidence.

Used at answer time (to pick the quote a sentence rests on and to drop what no evidence supports)
and by the eval. Everything here is regex and set arithmetic: no model, no randomness.

    >>> from askai.grounding import check_claim
    >>> evidence = "Beijing alone now boasts 219 registered models."
    >>> check_claim("Beijing has 219 models.", evidence).supported
    True
    >>> check_claim("Beijing has 300 models.", evidence).supported
    False
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import Stemmer

# --- sentences --------------------------------------------------------------------------------

_ABBREVIATIONS = {
    "e.g", "i.e", "etc", "vs", "mr", "mrs", "ms", "dr", "prof", "inc", "ltd", "co", "corp", "jr",
    "sr", "st", "no", "fig", "approx", "u.s", "u.k", "u.n", "e.u", "a.i", "p.m", "a.m",
}
_END = re.compile(r"[.!?。！？]+[\"'”’)\]]*(?=\s|$)")
_LIST_MARKER = re.compile(r"^(?:[-*•·▪►✅🔸🔥]|\d{1,2}[.)])\s+")


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Character spans ``(start, end)`` of the sentences of ``text``.

    Lines are split apart (lists and headings are one unit per line), then each line at sentence
    punctuation followed by a space, except after common abbreviations. Spans are trimmed of
    surrounding white space and leading list markers, so ``text[start:end]`` is a clean quote.
    """
    spans: list[tuple[int, int]] = []
    pos = 0
    for line in text.split("\n"):
        line_start = pos
        pos += len(line) + 1
        seg_start = 0
        for match in _END.finditer(line):
            end = match.end()
            word = re.search(r"(\S+)$", line[seg_start : match.start()])
            token = (word.group(1) if word else "").lower().strip("(\"'“")
            if token in _ABBREVIATIONS or re.fullmatch(r"[a-z]", token):
                continue
            if re.fullmatch(r"\s*\d{1,2}", line[seg_start : match.start()]):
                continue  # a numbered list item's "1." is its marker, not a sentence
            after = line[end:].lstrip()
            if after and after[0].islower():
                continue
            _add_span(spans, line, line_start, seg_start, end)
            seg_start = end
        _add_span(spans, line, line_start, seg_start, len(line))
    return spans


def _add_span(spans: list[tuple[int, int]], line: str, offset: int, start: int, end: int) -> None:
    piece = line[start:end]
    stripped = piece.lstrip()
    start += len(piece) - len(stripped)
    marker = _LIST_MARKER.match(stripped)
    if marker:
        start += marker.end()
    piece = line[start:end].rstrip()
    if re.search(r"\w", piece):
        spans.append((offset + start, offset + start + len(piece)))


# --- words, numbers, names --------------------------------------------------------------------

_STOPWORDS = frozenset(
    """a an the and or but if then than so of in on at to for from by with without into onto
    about as is are was were be been being am do does did done has have had having it its it's
    this that these those there here their they them he she his her we our you your i me my
    which who whom whose what when where why how all any both each few more most other some such
    only own same too very can could will would shall should may might must also just not no nor
    yet over under again further once up down out off than via per across among within while
    during before after above below between through s t don doesn didn isn aren wasn weren
    according document documents source sources text passage passages mentioned mentions said says
    one like including include includes included such well much many""".split()
)
_NEGATIONS = frozenset({"not", "no", "never", "none", "nor", "cannot", "neither"})
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9']*|\d+(?:,\d{3})*(?:\.\d+)?%?")
# typographic dashes and quotes, folded one character for one (offsets stay valid)
_FOLD = str.maketrans({"‐": "-", "‑": "-", "‒": "-", "–": "-", "—": "-", "―": "-",
                       "’": "'", "‘": "'", "“": '"', "”": '"'})


def fold(text: str) -> str:
    """Plain hyphens and quotes for their typographic variants, character for character."""
    return text.translate(_FOLD)
_NUMBER = re.compile(r"(?<![\w.])\d[\d,]*(?:\.\d+)*(?:%|nm|s)?")  # 1,000 3.11 11.0.6 5%
_NUMBER_WORDS = {
    "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7", "eight": "8",
    "nine": "9", "ten": "10", "twelve": "12", "twenty": "20", "hundred": "100", "thousand": "1000",
}


_STEMMER = Stemmer.Stemmer("english")  # Snowball (Porter 2); one object is not thread-safe
_STEMMER_LOCK = threading.Lock()


@lru_cache(maxsize=200_000)
def _stem(word: str) -> str:
    """The word's Snowball stem ("cancelled", "cancels" → "cancel"); numbers in one spelling
    ("5.0" → "5")."""
    if word[0].isdigit():
        return _canonical_number(word)
    with _STEMMER_LOCK:
        return _STEMMER.stemWord(word)


def _canonical_number(number: str) -> str:
    number = number.replace(",", "")
    if re.fullmatch(r"\d+\.0+", number):
        return number.split(".")[0]
    return number


def tokens(text: str) -> list[str]:
    """Lower-cased words and numbers; hyphenated words count as their parts."""
    return [w.lower() for w in _WORD.findall(fold(text))]


def terms(text: str) -> list[str]:
    """Search terms, repeats kept: stemmed content words, and character pairs of Chinese or
    Japanese text (which has no spaces to split words at)."""
    out = []
    for w in tokens(text):
        w = w.strip("'-").removesuffix("'s")
        if w and w not in _STOPWORDS and (len(w) > 1 or w.isdigit()):
            out.append(_stem(w))
    for run in _CJK.findall(text):
        out.extend(run[i : i + 2] for i in range(max(1, len(run) - 1)))
    return out


_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff]+")


def content_words(text: str) -> set[str]:
    words = set()
    for w in tokens(text):
        w = w.strip("'-").removesuffix("'s")
        if w and w not in _STOPWORDS and (len(w) > 1 or w.isdigit()):
            words.add(_stem(w))
    return words


def numbers(text: str) -> set[str]:
    found = {m.group(0).replace(",", "").rstrip("%") for m in _NUMBER.finditer(text)}
    found |= {_NUMBER_WORDS[w] for w in tokens(text) if w in _NUMBER_WORDS}
    return {_canonical_number(n.removesuffix("nm").removesuffix("s") or n) for n in found}


_ORDINARY_SUFFIX = re.compile(
    r"(?:ly|ing|ed|es|tion|sion|ment|ness|ity|ive|al|ous|ful|ers|ism|ist|ence|ance|ic)$"
)


def proper_names(text: str) -> set[str]:
    """Capitalised words (lower-cased): anywhere but at the start of a sentence, and at the start
    too when the word does not look like an ordinary word (no common English suffix)."""
    names: set[str] = set()
    for start, end in split_sentences(text) or [(0, len(text))]:
        words = re.findall(r"[A-Za-z][A-Za-z0-9]*", fold(text[start:end]))
        for i, w in enumerate(words):
            lower = w.lower()
            if lower in _STOPWORDS or not (w[0].isupper() or w[1:] != w[1:].lower()):
                continue
            if i == 0 and w[1:].islower() and (_ORDINARY_SUFFIX.search(lower) or len(w) < 4):
                continue
            names.add(lower)
    return names


_IDENTIFIER = re.compile(
    r"(?<![\w/.-])(?:--?[A-Za-z][\w-]*"  # a command-line option
    r"|[~.]{0,2}/[\w.+-]+(?:/[\w.+-]*)*"  # a path
    r"|[A-Za-z_$][\w$]*(?:(?:\.|::|/)[A-Za-z_$][\w$]*)+"  # dotted or scoped names
    r"|[A-Za-z]*_[\w]*)"  # snake_case and UPPER_CASE names
)


def identifiers(text: str) -> set[str]:
    """Code-like tokens (lower-cased, trailing ``()`` and punctuation dropped): options
    (``--max-ppsize``), paths (``/var/tmp``), dotted or scoped names (``sys.setrecursionlimit``,
    ``os.path.join``) and names with underscores (``R_LIBS_USER``). Abbreviations such as
    ``e.g.`` are not identifiers; hyphenated words are ordinary words."""
    found = set()
    for m in _IDENTIFIER.finditer(fold(text)):
        token = m.group(0).rstrip(".,;:)(").lower()
        parts = re.split(r"[./:_-]+", token)
        if len(token) < 3 or all(len(p) <= 1 for p in parts if p):
            continue  # e.g., i.e., a lone "_" or "/"
        found.add(token)
    return found


_LITERAL = re.compile(
    r"`([^`\n]{1,120})`"  # a code span
    r"|(?<![\w'\"])['\"]([^'\"\n]{1,40})['\"](?![\w'\"])"  # a quoted string: 'x', "rb", '#'
    r"|(?<![\w%])(%[A-Za-z])\b"  # a format directive: %j
    r"|\b([A-Z][A-Z0-9]*_?[A-Z0-9_]*[A-Z0-9])\b"  # an upper-case name: LANGUAGE, R_HOME
)


def _digits(text: str) -> set[str]:
    """The numbers written in digits ("3.11", not "three")."""
    return {_canonical_number(m.group(0).rstrip("%")) for m in _NUMBER.finditer(text)}


def literals(text: str) -> set[str]:
    """What a technical answer quotes and must match exactly, case kept: code spans, quoted
    strings, format directives and upper-case names (``LANGUAGE`` the variable, not the word).
    A trailing ``()`` of a code span is dropped (```next()``` is the function ``next``)."""
    found = set()
    for m in _LITERAL.finditer(fold(text)):
        code, quoted, directive, upper = m.groups()
        if upper is not None and len(upper) < 3:
            continue  # "AI", "US", "OK": too short to be a name one must match exactly
        literal = (code or quoted or directive or upper).strip()
        if code is not None:
            literal = literal.strip("'\"").removesuffix("()")
        if literal:
            found.add(" ".join(literal.split()))
    return found


def literal_in(literal: str, text: str) -> bool:
    """Is ``literal`` in ``text`` as written (white space and typographic quotes folded)?
    A literal that begins or ends with a letter or digit must not run on into a longer word
    (``'x'`` is not in "exists")."""
    haystack = " ".join(fold(text).split())
    before = r"(?<![\w%])" if re.match(r"[\w%]", literal) else ""
    after = r"(?!\w)" if re.search(r"\w$", literal) else ""
    return re.search(before + re.escape(literal) + after, haystack) is not None


_NOT_ONLY = re.compile(r"\b(?:not|n't)\s+(?:just|only|merely|simply)\b|n't\s+just", re.I)


_QUESTION_STARTERS = frozenset(
    "name list describe explain tell give summarize summarise compare according please "
    "show define outline".split()
)


def unknown_names(question: str, context: str) -> set[str]:
    """Names the question asks about that occur nowhere in ``context`` (the retrieved evidence).
    When the documents retrieved never mention the entity asked about, there is nothing to answer
    from: the answer is a refusal rather than a guess."""
    present = _bare_words(context)
    return {n for n in proper_names(question) if n not in present} - _QUESTION_STARTERS


def _bare_words(text: str) -> set[str]:
    """The text's words without possessive endings ("China's" counts as "china")."""
    return {w.removesuffix("'s").strip("'") for w in tokens(text)}


def has_negation(text: str) -> bool:
    """A negating word, ignoring "not just"/"not only" (which add, not deny)."""
    text = _NOT_ONLY.sub(" ", text.replace("’", "'"))
    return any(w in _NEGATIONS or w.endswith("n't") for w in tokens(text))


# --- claims -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClaimCheck:
    supported: bool
    coverage: float  # share of the claim's content words found in the evidence window
    missing_numbers: tuple[str, ...] = ()
    missing_names: tuple[str, ...] = ()
    contradiction: bool = False
    start: int = 0  # the evidence window judged: evidence[start:end]
    end: int = 0
    missing_identifiers: tuple[str, ...] = ()

    @property
    def reason(self) -> str:
        if self.contradiction:
            return "negation differs from the evidence"
        if self.missing_numbers:
            return "numbers not in the evidence: " + ", ".join(self.missing_numbers)
        if self.missing_names:
            return "names not in the evidence: " + ", ".join(self.missing_names)
        if self.missing_identifiers:
            return "identifiers not in the evidence: " + ", ".join(self.missing_identifiers)
        if not self.supported:
            return f"only {self.coverage:.0%} of its content words are in the evidence"
        return ""


def check_claim(
    claim: str,
    evidence: str,
    *,
    question: str = "",
    heading: str = "",
    context: str | None = None,
    min_coverage: float = 0.6,
    anchored_coverage: float | None = None,
    max_window: int = 2,
    specific_names: frozenset[str] = frozenset(),
) -> ClaimCheck:
    """Is ``claim`` supported by ``evidence``, judged lexically?

    Exact where technical text must be exact, tolerant where it paraphrases:

    - every number, proper name, identifier (``sys.setrecursionlimit``, ``/var/tmp``) and literal
      (a code span, a quoted string, ``%j``, ``LANGUAGE``) the claim adds must be in the evidence
      or its ``heading`` (the passage's heading path) as written; numbers the claim repeats from
      the ``question`` too (a false premise's "since 3.11" restated is a claim the evidence must
      make);
    - the claim is compared with every window of 1 to ``max_window`` adjacent sentences of the
      evidence, and the best window is returned (its offsets in ``start``/``end``); numbers must
      be in that window, as must at least ``min_coverage`` of the claim's content words (stemmed;
      at least two of them when it has two); a negation on one side only is a contradiction;
    - given the ``question``, the share is taken of the claim's *new* words instead (those not in
      the question; the heading's words count as evidence of the window): echoing the question
      proves nothing, and its wording need not be in the evidence. A claim that adds an
      identifier, literal or name, all of them there, is *anchored* (a number alone does not
      anchor) and needs only ``anchored_coverage`` of its new words (default: the same as
      ``min_coverage``): the words around an exact value may paraphrase.

    Names the question supplies are exempt from the name check; given ``context`` (all the
    evidence retrieved), only those that occur in it — except ``specific_names`` (those only one
    retrieved passage mentions) in a claim that adds a number, identifier or literal: the value's
    passage must name them, so a claim is not stitched from two passages.
    """
    claim = _ATTRIBUTION.sub("", claim)  # "According to the article, X" claims X
    framing_text = f"{question} {heading}"
    claim_words = content_words(claim)
    novel = claim_words - content_words(question)
    heading_words = content_words(heading)
    # names and numbers the question itself supplies are the reader's framing, not new claims
    claim_numbers = numbers(claim) - numbers(framing_text)
    exempt = {w.lower() for w in re.findall(r"[A-Za-z0-9]+", fold(framing_text))}
    if context is not None:
        exempt &= _bare_words(context)
    names_in_claim = proper_names(claim)
    claim_names = names_in_claim - exempt
    claim_negated = has_negation(claim)
    spans = split_sentences(evidence) or [(0, len(evidence))]
    # a name may be anywhere in the cited evidence (a list's heading, the sentence before)
    evidence_lower, evidence_words = fold(evidence).lower(), content_words(evidence)
    missing_names = tuple(
        sorted(n for n in claim_names if n not in evidence_lower and _stem(n) not in evidence_words)
    )
    # identifiers (setting, function and file names, paths, options) and literals must be there
    # verbatim, in the same passage: paraphrase tolerance is for the words around them
    framing = fold(framing_text).lower()
    new_identifiers = {i for i in identifiers(claim) if i not in framing}
    new_literals = {x for x in literals(claim) if not literal_in(x, framing_text)}
    # a name the question supplies is framing, unless only one retrieved passage names it
    # (``specific_names``) and the claim ties a value of its own to it: then the passage the
    # value comes from must name it (or its heading), or the claim is stitched from two passages
    # ("Sinong needs 50 cycles": the 50 cycles are another system's, in another passage)
    tied = claim_numbers or new_identifiers or new_literals
    heading_lower = fold(heading).lower()
    stitched = tuple(sorted(
        n for n in names_in_claim & specific_names
        if tied and n not in evidence_lower and _stem(n) not in evidence_words
        and n not in heading_lower
    ))
    missing_names = tuple(sorted(set(missing_names) | set(stitched)))
    missing_identifiers = tuple(sorted(
        [i for i in new_identifiers if i not in evidence_lower]
        + [x for x in new_literals if not literal_in(x, f"{evidence}\n{heading}")]
    ))
    # a number the claim repeats from the question must be in the passage or its heading too
    passage_numbers = numbers(f"{evidence}\n{heading}")
    repeated = sorted(n for n in _digits(claim) & _digits(question) if n not in passage_numbers)
    # a number alone does not anchor: numbers are everywhere in technical text (section 7.42,
    # java-11-openjdk), and a false premise's answer found one in an unrelated line
    anchored = bool(new_identifiers or new_literals or claim_names)
    threshold = min_coverage
    if anchored and anchored_coverage is not None:
        threshold = min(min_coverage, anchored_coverage)
    best: ClaimCheck | None = None
    closest: ClaimCheck | None = None
    for i in range(len(spans)):
        for j in range(i, min(len(spans), i + max_window)):
            start, end = spans[i][0], spans[j][1]
            window = evidence[start:end]
            words = content_words(window) | heading_words
            measured = novel or claim_words  # what the claim adds must be in the evidence
            coverage = len(measured & words) / len(measured) if measured else 0.0
            matched = len(claim_words & words)  # its subject must stand beside it
            window_numbers = numbers(window)
            missing_numbers = [n for n in claim_numbers if n not in window_numbers] + repeated
            check = ClaimCheck(
                supported=False,
                coverage=coverage,
                missing_numbers=tuple(sorted(set(missing_numbers))),
                missing_names=missing_names,
                missing_identifiers=missing_identifiers,
                contradiction=coverage >= threshold and claim_negated != has_negation(window),
                start=start,
                end=end,
            )
            ok = (
                coverage >= threshold
                and matched >= min(2, len(claim_words))
                and not check.missing_numbers
                and not check.missing_names
                and not check.missing_identifiers
                and not check.contradiction
            )
            if ok:
                check = replace(check, supported=True)
            if best is None or _rank(check) > _rank(best):
                best = check
            if closest is None or check.coverage > closest.coverage:
                closest = check
    assert best is not None and closest is not None
    # the window that matches the claim most closely says the opposite: a weaker window that
    # happens to agree does not outweigh it ("T and F are reserved" against "… are not reserved")
    if best.supported and closest.contradiction and closest.coverage > best.coverage:
        return closest
    return best


_ATTRIBUTION = re.compile(
    r"^\s*according to (?:the |this |that )?[^,]{0,60}\b(?:article|document|text|source|faq|"
    r"report|passage|post|blog|author|paper)s?\b[^,]{0,40},\s*",
    re.IGNORECASE,
)


def _rank(check: ClaimCheck) -> tuple[bool, float, int]:
    # supported first, then coverage, then the shorter window
    return (check.supported, check.coverage, -(check.end - check.start))


# --- two-tier verdicts ------------------------------------------------------------------------

SUPPORTED, NOT_SUPPORTED, CONTRADICTED = "supported", "not_supported", "contradicted"

JUDGE_PROMPT = (
    "You check facts. Given EVIDENCE and a CLAIM, answer SUPPORTED if the evidence states "
    "everything the claim says, otherwise NOT_SUPPORTED. Reply with exactly one word: "
    "SUPPORTED or NOT_SUPPORTED."
)


@dataclass(frozen=True)
class Verdict:
    label: str  # SUPPORTED, NOT_SUPPORTED or CONTRADICTED
    tier: int  # 1: lexical, 2: model judge
    error: bool = False  # the judge's reply could not be parsed (label is then NOT_SUPPORTED)
    reason: str = ""

    @property
    def supported(self) -> bool:
        return self.label == SUPPORTED


class Judge:
    """Tier 2: the local model as a one-word judge, greedy, with a persistent verdict cache keyed
    by a hash of the model file, the prompt, the claim and the evidence."""

    def __init__(self, llm: object, model_fingerprint: str, cache_path: Path | None = None) -> None:
        self._llm = llm
        self._fingerprint = model_fingerprint
        self._cache_path = cache_path
        self._cache: dict[str, str] = {}
        self._lock = threading.Lock()
        if cache_path and cache_path.is_file():
            for line in cache_path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    row = json.loads(line)
                    self._cache[row["key"]] = row["reply"]
        self.calls = 0

    def key(self, claim: str, evidence: str) -> str:
        material = "\x1f".join((self._fingerprint, JUDGE_PROMPT, claim, evidence))
        return hashlib.sha256(material.encode("utf-8")).hexdigest()

    def __call__(self, claim: str, evidence: str) -> Verdict:
        key = self.key(claim, evidence)
        with self._lock:
            reply = self._cache.get(key)
        if reply is None:
            from askai.llm.base import complete

            messages = [
                {"role": "system", "content": JUDGE_PROMPT},
                {"role": "user", "content": f"EVIDENCE: {evidence}\nCLAIM: {claim}\nAnswer:"},
            ]
            reply = complete(self._llm, messages, max_tokens=6, temperature=0.0)  # type: ignore[arg-type]
            self.calls += 1
            with self._lock:
                self._cache[key] = reply
                if self._cache_path:
                    self._cache_path.parent.mkdir(parents=True, exist_ok=True)
                    with open(self._cache_path, "a", encoding="utf-8") as fh:
                        fh.write(json.dumps({"key": key, "reply": reply}) + "\n")
        return parse_judgement(reply)


def parse_judgement(reply: str) -> Verdict:
    word = re.sub(r"[^A-Z_ ]", "", reply.strip().upper()).replace(" ", "_")
    if word.startswith("NOT_SUPPORTED") or word.startswith("NOT") or word.startswith("UNSUPPORTED"):
        return Verdict(NOT_SUPPORTED, 2)
    if word.startswith("SUPPORTED"):
        return Verdict(SUPPORTED, 2)
    return Verdict(NOT_SUPPORTED, 2, error=True, reason=f"unparsable judge reply {reply!r}")


def verdict(
    claim: str, evidence: str, judge: Judge | None = None, *, question: str = ""
) -> Verdict:
    """Tier 1 decides clear cases: a contradiction, a missing number or name, very high or very
    low coverage. The cases in between go to the ``judge`` (tier 2) when one is given; without a
    judge tier 1's own threshold decides them."""
    if not evidence.strip():
        return Verdict(NOT_SUPPORTED, 1, reason="no evidence cited")
    check = check_claim(claim, evidence, question=question)
    if check.contradiction:
        return Verdict(CONTRADICTED, 1, reason=check.reason)
    if check.missing_numbers or check.missing_names or check.missing_identifiers:
        return Verdict(NOT_SUPPORTED, 1, reason=check.reason)
    if check.supported and check.coverage >= 0.8:
        return Verdict(SUPPORTED, 1)
    if check.coverage < 0.34:
        return Verdict(NOT_SUPPORTED, 1, reason=check.reason)
    if judge is None:
        return Verdict(SUPPORTED if check.supported else NOT_SUPPORTED, 1, reason=check.reason)
    return judge(claim, evidence)
