"""Passages from hits: neighbours merged without repeating the chunker's overlap, the token
budget kept, citations carrying document, pages and chunks."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from retrieval.context import build_passages
from retrieval.language import query_language
from retrieval.search import Hit


def hit(doc: str, position: int, text: str, score: float = 1.0, page: int | None = 1) -> Hit:
    return Hit(
        chunk_id=f"{doc}-{position}",
        doc_id=doc,
        version=1,
        position=position,
        score=score,
        text=text,
        title=f"Title {doc}",
        filename=f"{doc}.txt",
        page=page,
        page_end=page,
        section_path=("Intro",),
        mime_type="text/plain",
        tags=(),
    )


def words(text: str) -> int:
    return len(text.split())


def test_adjacent_chunks_merge_into_one_passage_without_the_overlap() -> None:
    first = "Intro\nAlpha beta gamma delta. The overlap sentence is here."
    second = "Intro\nThe overlap sentence is here. Epsilon zeta eta."
    passages = build_passages(
        [hit("a", 4, second, 0.9, page=3), hit("b", 0, "Other doc.", 0.5), hit("a", 3, first, 0.4)],
        words,
        budget_tokens=1000,
        max_passages=8,
    )
    assert [p.doc_id for p in passages] == ["a", "b"]  # ordered by their best hit
    merged = passages[0]
    assert merged.text == (
        "Intro\nAlpha beta gamma delta. The overlap sentence is here.\nEpsilon zeta eta."
    )
    assert merged.positions == [3, 4] and merged.chunk_ids == ["a-3", "a-4"]
    assert (merged.page, merged.page_end) == (1, 3)
    assert merged.score == 0.9
    assert [p.number for p in passages] == [1, 2]
    citation = merged.citation()
    assert citation["document_id"] == "a" and citation["chunk_ids"] == ["a-3", "a-4"]


def test_distant_chunks_of_one_document_stay_apart() -> None:
    passages = build_passages(
        [hit("a", 1, "one"), hit("a", 5, "five")], words, budget_tokens=100, max_passages=8
    )
    assert [p.positions for p in passages] == [[1], [5]]


def test_no_merge_when_disabled() -> None:
    passages = build_passages(
        [hit("a", 1, "one"), hit("a", 2, "two")],
        words,
        budget_tokens=100,
        max_passages=8,
        merge_neighbours=False,
    )
    assert len(passages) == 2


def test_budget_truncates_the_last_passage_and_stops() -> None:
    long = " ".join(f"w{i}." for i in range(200))
    passages = build_passages(
        [hit("a", 0, long), hit("b", 0, long), hit("c", 0, long)],
        words,
        budget_tokens=300,
        max_passages=8,
    )
    assert [p.doc_id for p in passages] == ["a", "b"]
    assert sum(words(p.text) for p in passages) <= 300
    assert passages[1].text.endswith("…")


@given(
    st.lists(
        st.tuples(st.sampled_from("abc"), st.integers(0, 6), st.text(min_size=1, max_size=60)),
        max_size=20,
        unique_by=lambda t: (t[0], t[1]),
    ),
    st.integers(1, 400),
    st.integers(1, 8),
)
def test_passages_respect_every_limit(
    raw: list[tuple[str, int, str]], budget: int, most: int
) -> None:
    hits = [hit(d, p, t, score=1.0 / (i + 1)) for i, (d, p, t) in enumerate(raw)]
    passages = build_passages(hits, len, budget_tokens=budget, max_passages=most)
    assert len(passages) <= most
    assert sum(len(p.text) for p in passages) <= budget
    seen = [c for p in passages for c in p.chunk_ids]
    assert len(seen) == len(set(seen))
    assert set(seen) <= {h.chunk_id for h in hits}


def test_query_language() -> None:
    assert query_language("龙井茶产于哪里？") == "zh"
    assert query_language("What is the iPhone 的价格") == "zh"
    assert query_language("What is the price of tea?") == "en"
    assert query_language("1234 ???") == "en"


def test_a_passage_cut_to_fit_keeps_the_sentences_that_answer_the_question() -> None:
    """A slow CPU's budget holds part of a chunk: the sentences sharing the question's terms
    are kept (with the first line, in order), not the chunk's beginning."""
    filler = " ".join(f"Visitors may park in bay {n} on weekdays." for n in range(8))
    text = f"Staff > Lisbon\nThe office opens at nine. {filler} The manager is Ana Costa. Bye."
    (passage,) = build_passages(
        [hit("d", 0, text)], words, budget_tokens=45, max_passages=3, question="Who manages it?"
    )
    lines = passage.text.splitlines()
    assert lines[0] == "Staff > Lisbon" and "The manager is Ana Costa." in lines
    assert lines[lines.index("The manager is Ana Costa.") - 1] == "…"
    (plain,) = build_passages([hit("d", 0, text)], words, budget_tokens=45, max_passages=3)
    assert plain.text.startswith("Staff > Lisbon\nThe office opens at nine")
    assert "Ana Costa" not in plain.text


def test_a_chinese_passage_cut_to_fit_keeps_its_answering_sentence() -> None:
    filler = "".join(f"访客可在{n}号车位停车。" for n in range(6))
    text = f"员工制度\n里斯本办公室九点开门。{filler}经理是李四，他于2019年上任。共有十二名员工。"
    (passage,) = build_passages(
        [hit("d", 0, text)], len, budget_tokens=45, max_passages=3, question="经理是谁？"
    )
    assert "经理是李四，他于2019年上任。" in passage.text and "车位" not in passage.text
    assert passage.text.startswith("员工制度\n")
    (traditional,) = build_passages(
        [hit("d", 0, text)], len, budget_tokens=45, max_passages=3, question="誰是經理？"
    )
    assert traditional.text == passage.text
    (unrelated,) = build_passages(
        [hit("d", 0, text)], len, budget_tokens=45, max_passages=3, question="年假几天？"
    )
    assert unrelated.text.startswith("员工制度\n里斯本办公室九点开门。")  # nothing shared
