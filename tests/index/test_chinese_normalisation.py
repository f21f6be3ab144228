"""One written form for matching: full-width folding, Traditional as Simplified, and what the
sparse encoder makes of Chinese queries written in either script, with full-width forms, or
with English run into Chinese; English text tokenized exactly as before."""

from __future__ import annotations

import collections
import json
import math
from concurrent.futures import ThreadPoolExecutor

import opencc
import pytest

from core.text_forms import chinese_script, fold_width, search_form, to_simplified
from index.sparse import SPARSE_ENCODER_VERSION, Bm25Encoder, tokenize
from retrieval.language import query_language
from tests.support import shared_data_dir


def test_full_width_letters_digits_and_punctuation_fold_to_ascii() -> None:
    assert fold_width("ＡＢＣ１２３，？！（）") == "ABC123,?!()"
    assert fold_width("ｉＰｈｏｎｅ　１５") == "iPhone 15"  # the ideographic space too
    assert fold_width("plain ASCII, unchanged") == "plain ASCII, unchanged"


@pytest.mark.parametrize(
    ("traditional", "simplified"),
    [
        ("資料庫", "资料库"),
        ("頭髮乾燥", "头发干燥"),  # 髮 and 乾 by phrase
        ("乾隆皇帝", "乾隆皇帝"),  # a name keeps 乾
        ("臺灣的鐘錶", "台湾的钟表"),
        ("後來發現", "后来发现"),
    ],
)
def test_traditional_becomes_simplified_phrase_aware(traditional: str, simplified: str) -> None:
    assert to_simplified(traditional) == simplified
    assert to_simplified(simplified) == simplified  # already Simplified: left alone


def test_conversion_is_safe_from_many_threads() -> None:
    # One converter serves every ingestion and query thread (OpenCC's is thread-safe).
    texts = [f"第{n}個資料庫的備份與還原" for n in range(200)]
    with ThreadPoolExecutor(4) as pool:
        converted = list(pool.map(to_simplified, texts))
    assert converted == [f"第{n}个资料库的备份与还原" for n in range(200)]


def test_words_the_same_in_both_scripts_are_left_alone() -> None:
    # Characters and phrases only: no word is swapped for another region's (向量 stays).
    assert to_simplified("向量数据库与软件") == "向量数据库与软件"
    assert to_simplified("軟體與資料庫") == "软体与资料库"


def test_search_form_folds_width_and_script_but_keeps_other_text() -> None:
    assert search_form("ｉＰｈｏｎｅ１５的價格是多少？") == "iPhone15的价格是多少?"
    assert search_form("Mount Etna, 1886") == "Mount Etna, 1886"
    assert search_form("Ünïcode café") == "Ünïcode café"
    assert search_form("") == ""


def test_chinese_script_is_told_apart() -> None:
    assert chinese_script("資料庫在哪裡？") == "traditional"
    assert chinese_script("数据库在哪里？") == "simplified"
    assert chinese_script("你是谁") == "simplified"  # common to both scripts
    assert chinese_script("Where is the database?") is None


def test_traditional_and_simplified_give_the_same_tokens() -> None:
    assert tokenize("龍井茶產於杭州西湖，採摘後經過殺青。") == tokenize(
        "龙井茶产于杭州西湖，采摘后经过杀青。"
    )
    assert tokenize("資料庫的備份") == tokenize("资料库的备份")


def test_full_width_query_gives_the_half_width_tokens() -> None:
    assert tokenize("２０２７年的預算") == tokenize("2027年的预算")
    assert tokenize("ＡＰＩ接口，？") == tokenize("API接口")


def test_letters_run_into_digits_in_chinese_also_count_as_their_parts() -> None:
    # As Chinese writes them (no spaces), and as English does: the query meets both.
    joined = tokenize("iPhone15价格")
    spaced = tokenize("iPhone 15 的价格")
    assert {"iphone15", "15", "价格"} <= set(joined)
    assert set(spaced) - {"的"} <= set(joined)
    tokens = tokenize("使用Python3.11的API接口")
    assert {"python3", "python", "3", "11", "api", "接口", "使用"} <= set(tokens)
    assert "的" in tokens and "python" in tokenize("Python 3.11 的文档")


def test_english_text_is_tokenized_as_before() -> None:
    # Stemming, stop words and compounds like covid19 unchanged: the splitting is for
    # Chinese context only.
    assert tokenize("The Running dogs of COVID-19 in 2020") == [
        "run",
        "dog",
        "covid",
        "19",
        "2020",
    ]
    assert tokenize("iPhone15 prices and covid19 vaccines") == [
        "iphone15",
        "price",
        "covid19",
        "vaccin",
    ]
    assert tokenize("naïve café iPhone15") == ["naïv", "café", "iphone15"]


def test_queries_in_one_script_match_documents_in_the_other() -> None:
    encoder = Bm25Encoder()
    traditional_doc = encoder.encode_documents(["雲端平台支援資料庫備份與還原。"])[0]
    simplified_doc = encoder.encode_documents(["云端平台支援资料库备份与还原。"])[0]
    assert traditional_doc == simplified_doc
    for query in ["資料庫備份", "资料库备份", "ｄａｔａ資料庫備份"]:
        assert set(encoder.encode_query(query).indices) & set(simplified_doc.indices)


def test_the_encoder_names_its_token_version() -> None:
    assert Bm25Encoder().version == SPARSE_ENCODER_VERSION
    assert SPARSE_ENCODER_VERSION.startswith("bm25-jieba/")


@pytest.mark.parametrize(
    ("query", "language"),
    [
        ("龍井茶產於哪裡？", "zh"),  # Traditional is Chinese too
        ("龙井茶产于哪里？", "zh"),
        ("ｉＰｈｏｎｅ１５的價格", "zh"),
        ("ｗｈａｔ ｉｓ ｔｈｅ ｐｒｉｃｅ ｏｆ ｔｅａ", "en"),  # full-width English is English
        ("What is the price of 龙井?", "en"),
        ("１２３４？", "en"),
    ],
)
def test_query_language_reads_both_scripts_and_full_width(query: str, language: str) -> None:
    assert query_language(query) == language


def _top_hits(corpus: list[str], doc_ids: list[str], queries: dict[str, str]) -> dict[str, str]:
    """Each query's best passage under BM25 with Qdrant's IDF modifier."""
    encoder = Bm25Encoder()
    postings: dict[int, list[tuple[int, float]]] = collections.defaultdict(list)
    for row, vector in enumerate(encoder.encode_documents(corpus)):
        for index, weight in zip(vector.indices, vector.values, strict=True):
            postings[index].append((row, weight))
    best = {}
    for query_id, text in queries.items():
        scores: dict[int, float] = collections.defaultdict(float)
        for index in encoder.encode_query(text).indices:
            docs = postings.get(index, [])
            idf = math.log(1 + (len(corpus) - len(docs) + 0.5) / (len(docs) + 0.5))
            for row, weight in docs:
                scores[row] += idf * weight
        best[query_id] = doc_ids[max(scores, key=scores.__getitem__)] if scores else ""
    return best


@pytest.mark.slow
def test_real_questions_find_the_same_passages_in_either_script() -> None:
    """xquad-r-zh (Simplified) and its Traditional copy: 200 questions in each script find
    the same best passage in each copy of the corpus."""
    data = shared_data_dir() / "xquad-r-zh"
    records = [json.loads(line) for line in (data / "corpus.jsonl").open(encoding="utf-8")]
    lines = list((data / "queries.jsonl").open(encoding="utf-8"))[:200]
    questions = {q["_id"]: q["text"] for q in map(json.loads, lines)}
    to_traditional = opencc.OpenCC("s2t.json").convert
    simplified = [r["text"] for r in records]
    traditional = [to_traditional(text) for text in simplified]
    traditional_questions = {q: to_traditional(text) for q, text in questions.items()}
    assert sum(a != b for a, b in zip(simplified, traditional, strict=True)) > 1000
    doc_ids = [r["_id"] for r in records]
    plain = _top_hits(simplified, doc_ids, questions)
    for corpus in (simplified, traditional):
        for asked in (questions, traditional_questions):
            found = _top_hits(corpus, doc_ids, asked)
            same = sum(found[q] == plain[q] for q in questions)
            assert same >= 0.98 * len(questions), (same, len(questions))
