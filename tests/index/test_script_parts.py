"""Which chunks get a vector per language (the ``per_script`` layout), and what each part holds."""

from __future__ import annotations

import numpy as np
import pytest

from core.text_forms import fold_width
from index.script_parts import embed_parts, script_parts
from index.types import PER_SCRIPT, SINGLE

NOTE_SIMPLIFIED = "注意：首次启动前请检查泵体是否灌满液体，否则密封件会在干运转中损坏。"
NOTE_TRADITIONAL = "注意：首次啟動前請檢查泵體是否灌滿液體，否則密封件會在乾運轉中損壞。"
MANUAL = (
    "Install the pump on a level base and tighten the four anchor bolts to the torque in "
    "table 3 before the first start."
)


@pytest.mark.parametrize("note", [NOTE_SIMPLIFIED, NOTE_TRADITIONAL])
def test_an_english_manual_with_a_chinese_note_splits_by_script(note: str) -> None:
    latin, rest = script_parts(f"{MANUAL} {note}")
    assert latin.startswith("Install the pump") and "table 3" in latin
    assert "泵" in rest and "Install" not in rest


def test_full_width_latin_counts_as_latin() -> None:
    # Chinese typesetting writes Latin in full-width forms; the model reads them as ASCII
    # (NFKC), so a full-width English clause is a second language like an ASCII one.
    full_width = (
        "Ｔｈｅ　ｓｕｐｐｌｉｅｒ　ｓｈａｌｌ　ｄｅｌｉｖｅｒ　ｔｈｅ　ｇｏｏｄｓ"
        "　ｂｅｆｏｒｅ　ＩＳＯ　９００１　ａｕｄｉｔ．"
    )
    contract = "本合同由甲方与乙方签订，双方同意以下付款条件及违约责任，并按约定日期交付货物。"
    latin, rest = script_parts(contract + full_width)
    assert "supplier" in fold_width(latin) and "9001" in fold_width(latin)
    assert "supplier" not in fold_width(rest) and "甲方" in rest


@pytest.mark.parametrize(
    "text",
    [
        MANUAL,  # English alone
        NOTE_SIMPLIFIED + NOTE_TRADITIONAL,  # Chinese alone
        # an English gloss inside a Chinese sentence
        "请在 Settings 页面打开 Wi-Fi 选项，然后重新启动设备并检查指示灯是否为绿色常亮状态。",
        "第３条　付款：买方应在收到发票后３０日内付款，逾期每日按未付金额的万分之五支付违约金。",
        "",
    ],
)
def test_text_in_one_language_gets_no_parts(text: str) -> None:
    assert script_parts(text) == []


class _CountingEmbedder:
    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        self.calls.append(texts)
        return np.ones((len(texts), 4))


def test_embed_parts_embeds_every_part_in_one_call_and_only_for_per_script() -> None:
    embedder = _CountingEmbedder()
    texts = [MANUAL, f"{MANUAL} {NOTE_SIMPLIFIED}", NOTE_TRADITIONAL]
    texts.append(f"{NOTE_TRADITIONAL} {MANUAL}")
    parts = embed_parts(embedder, texts, PER_SCRIPT)
    assert [len(p) for p in parts] == [0, 2, 0, 2]
    assert len(embedder.calls) == 1 and len(embedder.calls[0]) == 4
    assert embed_parts(embedder, texts, SINGLE) == [[], [], [], []]
    assert len(embedder.calls) == 1  # a single-vector collection embeds nothing more
