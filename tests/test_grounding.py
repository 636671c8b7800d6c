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
    assert "106,000" in content_words("over 106,000 beds")  # thousands separators stay
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
