from __future__ import annotations

from askai.grounding import (
    check_claim,
    content_words,
    numbers,
    proper_names,
    split_sentences,
)


def _sentences(text: str) -> list[str]:
    return [text[a:b] for a, b in split_sentences(text)]


def test_split_sentences_lines_and_punctuation() -> None:
    text = "First one. Second one!\n- A bullet item\n\nThird? Yes."
    assert _sentences(text) == ["First one.", "Second one!", "A bullet item", "Third?", "Yes."]


def test_split_sentences_keeps_abbreviations_and_lowercase_continuations() -> None:
    text = "The U.S. export controls were meant to hurt. Dr. Li agreed, e.g. in 2024. Done."
    assert _sentences(text) == [
        "The U.S. export controls were meant to hurt.",
        "Dr. Li agreed, e.g. in 2024.",
        "Done.",
    ]


def test_split_sentences_offsets_are_exact() -> None:
    text = "  · How it Works: The system predicts jams.  Then it acts.\n✅ Compute dominance: big."
    spans = split_sentences(text)
    assert [text[a:b] for a, b in spans] == [
        "How it Works: The system predicts jams.",
        "Then it acts.",
        "Compute dominance: big.",
    ]


def test_numbers_and_names() -> None:
    assert numbers("Beijing has 219 models, 1,200 staff and 95% uptime on 3nm chips") == {
        "219", "1200", "95", "3",
    }
    assert numbers("two firms") == {"2"}
    assert proper_names("Chinese firms like Biren Technology lead. They beat NVIDIA.") == {
        "chinese", "biren", "technology", "nvidia",
    }
    # a sentence-initial word counts unless it looks ordinary (a common suffix, or short)
    assert proper_names("Shanghai has 219 models.") == {"shanghai"}
    assert proper_names("Companies like Midea automate. Rapidly growing firms. Its AIOps.") == {
        "midea", "aiops",
    }


def test_content_words_drop_stopwords_and_stem() -> None:
    assert content_words("The firms are pioneering chiplets") == {"firm", "pioneer", "chiplet"}


def test_check_claim_supported() -> None:
    evidence = "Beijing alone now boasts 219 registered generative AI models."
    check = check_claim("Beijing has 219 registered generative AI models.", evidence)
    assert check.supported and check.coverage >= 0.8


def test_check_claim_wrong_number_is_unsupported() -> None:
    evidence = "Beijing alone now boasts 219 registered generative AI models."
    check = check_claim("Beijing has 300 registered generative AI models.", evidence)
    assert not check.supported
    assert check.missing_numbers == ("300",)
    assert "300" in check.reason


def test_check_claim_wrong_name_is_unsupported() -> None:
    evidence = "Chinese firms like Biren Technology and Iluvatar CoreX are pioneering chiplets."
    check = check_claim("Firms like Huawei are pioneering chiplets.", evidence)
    assert not check.supported and check.missing_names == ("huawei",)


def test_check_claim_negation_mismatch_is_a_contradiction() -> None:
    evidence = "The lighthouse was automated in 1969 and has a keeper."
    check = check_claim("The lighthouse was not automated in 1969.", evidence)
    assert check.contradiction and not check.supported


def test_check_claim_low_coverage() -> None:
    check = check_claim("Glass frogs eat mostly beetles at night.", "Glass frogs have skin.")
    assert not check.supported and check.coverage < 0.5


def test_check_claim_returns_the_tightest_supporting_window() -> None:
    text = "The bakery opened in 2011. It employs nine people. It bakes rye bread."
    check = check_claim("It employs nine people", text)
    assert check.supported and text[check.start : check.end] == "It employs nine people."
    both = check_claim("The bakery opened in 2011 and employs nine people.", text)
    assert both.supported
    assert text[both.start : both.end] == "The bakery opened in 2011. It employs nine people."


def test_check_claim_needs_the_new_facts_in_one_window() -> None:
    text = "Glass frogs live in rainforests. Many tourists visit. Bellies of toads are translucent."
    question = "What is special about glass frogs?"
    # 'translucent' (the claim's one new word) never stands within two sentences of 'glass frogs'
    check = check_claim("Glass frogs are translucent.", text, question=question)
    assert not check.supported
    assert check_claim("Glass frogs live in rainforests.", text, question=question).supported


def test_one_shared_word_is_not_support() -> None:
    assert not check_claim("The sea is a source of inspiration.", "Rising sea levels.").supported
    assert check_claim("Ernie Bot.", "Baidu has developed Ernie Bot, a service.").supported


def test_a_number_before_a_comma_is_still_that_number() -> None:
    assert "2030" in content_words("a global leader in AI by 2030, providing funding")
    # thousands separators and a zero decimal are spellings of one number
    assert content_words("over 106,000 beds") == content_words("over 106000 beds")
    assert numbers("timeout=5.0") == numbers("5 seconds") == {"5"}
    evidence = "The plan aims to make China a global leader in AI by 2030, with funding."
    assert check_claim("By 2030.", evidence, question="By what year does the plan aim?").supported


def test_a_name_may_be_anywhere_in_the_cited_evidence() -> None:
    evidence = ("Silicon Valley's Triple Dominance\nCompute dominance: top-tier chip design.\n"
                "Data dominance: vast datasets.\nEcosystem dominance: open-source frameworks.")
    claim = "The three forms are Compute dominance, Data dominance and Ecosystem dominance."
    assert check_claim(claim, evidence, question="What are the three forms of dominance?").supported
    assert not check_claim(claim.replace("Ecosystem", "Hardware"), evidence).supported


def test_an_attribution_to_the_document_is_not_part_of_the_claim() -> None:
    evidence = "Chinese companies are stockpiling Nvidia chips before export curbs."
    claim = ("According to the FAQ of the 2024 AI race article, Chinese companies are stockpiling "
             "Nvidia chips before export curbs.")
    assert check_claim(claim, evidence).supported
    # an attribution to someone other than the document stays part of what must be supported
    assert not check_claim("According to Baidu, Chinese companies are stockpiling Nvidia chips.",
                           evidence).supported


def test_identifiers_must_be_there_verbatim() -> None:
    from askai.grounding import identifiers

    assert identifiers("Use sys.setrecursionlimit() or set R_LIBS_USER.") == {
        "sys.setrecursionlimit", "r_libs_user"}
    assert identifiers("Pass --max-ppsize=500000; files go to /var/tmp.") == {
        "--max-ppsize", "/var/tmp"}
    assert identifiers("A built-in, zero-padded value, e.g. in Python 3.11.") == set()
    evidence = "The limit can be raised with sys.setrecursionlimit(), up to a platform maximum."
    assert check_claim("The limit can be raised with sys.setrecursionlimit().", evidence).supported
    wrong = check_claim("The limit can be raised with sys.setswitchinterval().", evidence)
    assert not wrong.supported and wrong.missing_identifiers == ("sys.setswitchinterval",)
    # an identifier the question supplies is framing, not a claim
    assert check_claim("The limit can be raised with it up to a platform maximum, sys.getsizeof.",
                       evidence, question="What does sys.getsizeof do?").missing_identifiers == ()


def test_inflections_share_a_stem() -> None:
    evidence = "If a timeout occurs, wait_for() cancels the task and raises TimeoutError."
    claim = "On a timeout the awaited task is cancelled and TimeoutError is raised."
    assert content_words("cancelled raised") == content_words("cancels raises")
    assert check_claim(claim, evidence, question="What happens on a timeout?").supported


def test_a_numbered_list_marker_is_not_a_sentence() -> None:
    text = "Follow these steps:\n1. Create the environment.\n2. Activate it."
    assert _sentences(text) == ["Follow these steps:", "Create the environment.", "Activate it."]


def test_literals_are_quoted_code_directives_and_upper_case_names() -> None:
    from askai.grounding import literal_in, literals

    assert literals("The mode is 'x'; use `next()` with %j and set LANGUAGE, not AI.") == {
        "x", "next", "%j", "LANGUAGE"}
    assert literals("It's the library's default.") == set()  # apostrophes are not quotes
    assert not literal_in("x", "fails if the file already exists")  # not inside a word
    assert literal_in("x", "'x': open for exclusive creation")
    assert not literal_in("LANGUAGE", "the message language")  # the variable, not the word


def test_a_literal_answer_must_be_in_the_evidence() -> None:
    question = "Which open() mode creates a file but fails if it already exists?"
    evidence = "'x' open for exclusive creation, failing if the file already exists"
    claim = "The open() mode that creates a file but fails if it already exists is 'x'."
    assert check_claim(claim, evidence, question=question).supported
    wrong = check_claim(claim.replace("'x'", "'w'"), evidence, question=question)
    assert not wrong.supported and wrong.missing_identifiers == ("w",)


def test_a_version_is_one_number() -> None:
    assert numbers("built against 11.0.6 or 17.0.1 of Java") == {"11.0.6", "17.0.1"}
    evidence = "Binary distributions are built against a specific version (e.g. 11.0.6) of Java."
    assert check_claim("It requires Java 11.", evidence).missing_numbers == ("11",)


def test_a_number_repeated_from_the_question_must_be_in_the_evidence() -> None:
    # a false premise restated: the question's "3.11" is a claim the evidence must make
    evidence = "Changed in version 3.7: Dictionary order is guaranteed to be insertion order."
    question = "Since dicts stopped preserving insertion order in 3.11, what should I use?"
    claim = "Since dicts stopped preserving insertion order in 3.11, use collections.OrderedDict."
    assert check_claim(claim, evidence, question=question).missing_numbers == ("3.11",)
    # …unless the passage's heading states it
    assert "3.11" not in check_claim(claim, evidence, question=question,
                                     heading="What's New In Python 3.11").missing_numbers


def test_an_anchored_claim_may_paraphrase_the_words_around_its_value() -> None:
    evidence = "Use the encoding 'UTF-8-BOM' for such files."
    question = "How do I read a UTF-8 file that starts with a byte order mark?"
    claim = "You pass 'UTF-8-BOM' as the encoding argument when reading."
    # "pass" and "argument" are not in the evidence: half of the new words; the exact literal
    # anchors the claim
    assert not check_claim(claim, evidence, question=question).supported
    assert check_claim(claim, evidence, question=question, anchored_coverage=0.5).supported
    # the anchor itself is never relaxed
    wrong = check_claim(claim.replace("UTF-8-BOM", "UTF-16LE"), evidence, question=question,
                        anchored_coverage=0.5)
    assert not wrong.supported and wrong.missing_identifiers == ("UTF-16LE",)


def test_a_number_alone_does_not_anchor_a_claim() -> None:
    # a false premise (readxl needs no Java) answered from a package name in an unrelated list
    question = "Why does readxl need Java installed, and which Java version does it require?"
    check = check_claim("It requires Java version 11 or later.", "java-11-openjdk",
                        question=question, heading="Useful libraries › Java support",
                        anchored_coverage=0.5)
    assert not check.supported and check.coverage == 0.5


def test_the_closest_window_saying_the_opposite_outweighs_a_weaker_agreeing_one() -> None:
    evidence = ("The cache_size setting is not enabled by default. Its value is read at start-up."
                " The cache_size setting defaults to 64 entries.")
    claim = "The cache_size setting is enabled by default."
    check = check_claim(claim, evidence, question="What about cache_size?", anchored_coverage=0.5)
    assert not check.supported and check.contradiction
    assert evidence[check.start : check.end].startswith("The cache_size setting is not enabled")
