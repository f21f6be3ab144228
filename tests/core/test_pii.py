"""The personal-data detector and its masks: every valid generated number is found wherever it
stands in Chinese or English text, written as people write it; near misses (a wrong check
character, a failing Luhn digit, order numbers, dates, amounts, ISBNs) are not; a stream cut
anywhere masks what the whole text does."""

from __future__ import annotations

from datetime import date, timedelta
from typing import get_args

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from core import pii, pii_regional
from core.pii_redact import TOKENS, Redactor
from core.settings_pii import PiiKind

FULL = str.maketrans("0123456789", "０１２３４５６７８９")
PROVINCES = ["11", "31", "44", "51", "62", "65", "81"]
# Surrounding text: Han characters, English words and punctuation, never a digit or a sign
# that would join the number (a letter glued to it is tested apart).
HAN = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5)
WORDS = st.sampled_from(
    [" Please call ", "联系人：", "號碼是", " and ", "，", "。", "备注 ", " see: "]
)
AROUND = st.lists(st.one_of(HAN, WORDS), max_size=8).map("".join)
FIT = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def id_numbers(draw: st.DrawFn) -> str:
    born = date(1930, 1, 1) + timedelta(days=draw(st.integers(0, 365 * 90)))
    first = (
        draw(st.sampled_from(PROVINCES))
        + draw(st.text("0123456789", min_size=4, max_size=4))
        + born.strftime("%Y%m%d")
        + draw(st.text("0123456789", min_size=3, max_size=3))
    )
    return first + pii.id_cn_check(first)


@st.composite
def cards(draw: st.DrawFn) -> str:
    prefix = draw(st.sampled_from(["62", "622202", "4", "5", "6011"]))
    length = draw(st.sampled_from([16, 19])) if prefix.startswith("62") else 16
    body = prefix + draw(st.text("0123456789", min_size=length - len(prefix) - 1).filter(bool))
    body = body[: length - 1].ljust(length - 1, "0")
    return body + pii.luhn_check_digit(body)


mobiles = st.tuples(st.sampled_from("3456789"), st.text("0123456789", min_size=9, max_size=9))


def written(number: str, style: str, sizes: list[int]) -> str:
    """``number`` as grouped, full-width or digit-by-digit text."""
    if style == "plain":
        return number
    if style == "full":
        return number.translate(FULL)
    if style == "split":
        return " ".join(number)
    parts, at = [], 0
    for size in sizes:
        parts.append(number[at : at + size])
        at += size
    parts.append(number[at:])
    return (" " if style == "space" else "-").join(p for p in parts if p)


STYLES = st.sampled_from(["plain", "full", "split", "space", "dash"])


def assert_found(text: str, needle: str, kind: str) -> None:
    start = text.index(needle)
    hits = [f for f in pii.find(text) if f.start <= start and f.end >= start + len(needle)]
    assert [f.kind for f in hits] == [kind], (text, pii.find(text))


@FIT
@given(id_numbers(), STYLES, AROUND, AROUND)
def test_every_valid_id_is_found_in_any_text(number: str, style: str, before: str, after: str):
    assume(not pii._NOT_PERSONAL.search(before))
    needle = written(number, style, [6, 8])
    assert_found(f"{before}{needle}{after}", needle, pii.ID_CN)


@FIT
@given(id_numbers(), st.integers(1, 10), AROUND, AROUND)
def test_an_id_with_a_wrong_check_character_is_not_taken(
    number: str, shift: int, before: str, after: str
) -> None:
    wrong = "0123456789X"[("0123456789X".index(number[17]) + shift) % 11]
    text = f"{before}{number[:17]}{wrong}{after}"
    assert pii.find(text) == [], text


@FIT
@given(cards(), STYLES, AROUND, AROUND)
def test_every_valid_card_is_found_in_any_text(number: str, style: str, before: str, after: str):
    assume(not pii._NOT_PERSONAL.search(before))
    needle = written(number, style, [4, 4, 4, 4])
    assert_found(f"{before}{needle}{after}", needle, pii.BANK_CARD)


@FIT
@given(cards(), st.integers(1, 9), st.sampled_from(["plain", "space", "dash"]), AROUND)
def test_a_card_failing_luhn_is_not_taken(number: str, shift: int, style: str, before: str):
    wrong = number[:-1] + str((int(number[-1]) + shift) % 10)
    text = f"{before}{written(wrong, style, [4, 4, 4, 4])}。"
    assert pii.find(text) == [], text


@FIT
@given(mobiles, STYLES, st.sampled_from(["", "+86 ", "+86-", "0086 ", "+86"]), AROUND, AROUND)
def test_every_mainland_mobile_is_found_in_any_text(
    parts: tuple[str, str], style: str, lead: str, before: str, after: str
) -> None:
    assume(not pii._NOT_PERSONAL.search(before))
    number = "1" + parts[0] + parts[1]
    needle = lead + written(number, style, [3, 4, 4])
    assert_found(f"{before}{needle}{after}", needle, pii.MOBILE_CN)


DIGITS8 = st.text("0123456789", min_size=8, max_size=8)
PHONE_WORDS = st.sampled_from(
    ["聯絡電話：", "电话 ", "手機：", "手机号码 ", "Tel: ", "Mobile ", "WhatsApp "]
)
TW_AREAS = st.sampled_from(["2", "3", "37", "4", "49", "5", "6", "7", "8", "82", "826", "89"])
LOCAL_LENGTHS = {"2": 8, "4": 8, "37": 6, "82": 6, "89": 6, "826": 5}


@FIT
@given(DIGITS8.map(lambda d: "09" + d), STYLES, AROUND, AROUND)
def test_every_taiwan_mobile_is_found_in_any_text(
    number: str, style: str, before: str, after: str
) -> None:
    assume(not pii._NOT_PERSONAL.search(before))
    needle = written(number, style, [4, 3, 3])
    assert_found(f"{before}{needle}{after}", needle, pii.MOBILE_TW)


@FIT
@given(TW_AREAS, DIGITS8, st.sampled_from(["({a}) {l}", "{a}-{l}", "{a} {l}"]), AROUND, AROUND)
def test_a_taiwan_landline_with_its_area_code_apart_is_found(
    area: str, digits: str, shape: str, before: str, after: str
) -> None:
    assume(not pii._NOT_PERSONAL.search(before))
    local = str(int(digits[0]) % 8 + 2) + digits[1 : LOCAL_LENGTHS.get(area, 7)]
    half = len(local) // 2
    needle = shape.format(a="0" + area, l=f"{local[:half]}-{local[half:]}")
    if not shape.startswith("("):
        needle = needle.translate(FULL) if int(digits[1]) % 2 else needle
    assert_found(f"{before}{needle}{after}", needle, pii.LANDLINE_TW)
    assert pii_regional.landline_tw_valid("0" + area + local, area)


@FIT
@given(DIGITS8, st.sampled_from(["plain", "full", "space", "dash"]), AROUND, PHONE_WORDS, AROUND)
def test_a_hong_kong_number_just_after_a_phone_word_is_found_and_not_without(
    digits: str, style: str, before: str, word: str, after: str
) -> None:
    number = str(int(digits[0]) % 6 + 4) + digits[1:]  # 4-9: a mobile (800 and 900 are not)
    needle = written(number, style, [4])
    assume(not pii._NOT_PERSONAL.search(before + word))
    assume(not pii_regional._MACAU_WORDS.search(before + word))
    assert_found(f"{before}{word}{needle}{after}", needle, pii.PHONE_HK)
    assume(not pii_regional._PHONE_WORDS.search(before[-16:]))
    assert pii.find(f"{before}{needle}{after}") == []


@FIT
@given(
    st.text(st.sampled_from(list("这是一段文字 and some words，。0123456789-:/.¥")), max_size=60)
)
def test_masked_text_holds_nothing_more_and_streams_mask_alike(text: str) -> None:
    mask = Redactor(language="en")
    masked = mask.redact(text)
    assert pii.find(masked) == []
    assert mask.redact(masked) == masked


@FIT
@given(
    st.lists(st.integers(1, 6), min_size=1, max_size=40),
    st.sampled_from(["token", "partial"]),
)
def test_a_stream_cut_anywhere_masks_what_the_whole_text_does(cuts: list[int], style: str):
    text = (
        "您好，请拨打 138 1234 5678 或 +86 139-8765-4321 找张三，身份证 11010519491231002X，"
        "Card 6222 0202 0000 1234 5677? mail zhang.san@example.com now. 订单号 4111111111111111。"
        "香港電話 9123 4567，手機 0912-345-678，Tel: (02) 2345-6789."
    )
    mask = Redactor(style=style, language="zh-Hans")  # type: ignore[arg-type]
    pieces, at = [], 0
    while at < len(text):
        step = cuts[len(pieces) % len(cuts)]
        pieces.append(text[at : at + step])
        at += step
    stream = mask.stream()
    assert "".join(stream.feed(p) for p in pieces) + stream.flush() == mask.redact(text)


@pytest.mark.parametrize(
    ("text", "kind", "found"),
    [
        ("身份证：110105 19491231 002X", pii.ID_CN, "110105 19491231 002X"),
        ("旧身份证 110105491231002 已换", pii.ID_CN, "110105491231002"),  # 15 digits, named
        ("手机：１３８１２３４５６７８。", pii.MOBILE_CN, "１３８１２３４５６７８"),
        ("call 1 3 8 1 2 3 4 5 6 7 8 today", pii.MOBILE_CN, "1 3 8 1 2 3 4 5 6 7 8"),
        ("或 0086 13712345678", pii.MOBILE_CN, "0086 13712345678"),
        ("上海 (021) 6432 1234 转 8", pii.LANDLINE_CN, "(021) 6432 1234"),
        ("深圳 0755-87654321。", pii.LANDLINE_CN, "0755-87654321"),
        ("北京 +86 10 6212 3456", pii.LANDLINE_CN, "+86 10 6212 3456"),
        ("Call (415) 555-2671 now", pii.PHONE, "(415) 555-2671"),
        ("London +44 20 7946 0958.", pii.PHONE, "+44 20 7946 0958"),
        ("卡号 4111-1111-1111-1111", pii.BANK_CARD, "4111-1111-1111-1111"),
        ("寫信到chen88@mail.example.com.tw。", pii.EMAIL, "chen88@mail.example.com.tw"),
        ("香港身份證 A123456(3)", pii.ID_HK, "A123456(3)"),
        ("台灣身分證 A123456789", pii.ID_TW, "A123456789"),
        ("聯絡電話：0912-345-678。", pii.MOBILE_TW, "0912-345-678"),
        ("手機 ０９１２３４５６７８", pii.MOBILE_TW, "０９１２３４５６７８"),
        ("电话 (02) 2345-6789 转 12", pii.LANDLINE_TW, "(02) 2345-6789"),
        ("台中 04-2234-5678", pii.LANDLINE_TW, "04-2234-5678"),
        ("Kaohsiung office (07) 123-4567", pii.LANDLINE_TW, "(07) 123-4567"),
        ("金門 (082) 312345", pii.LANDLINE_TW, "(082) 312345"),
        ("電話：0223456789", pii.LANDLINE_TW, "0223456789"),  # bare: a phone word before
        ("陝西榆林 0912-3456789", pii.LANDLINE_CN, "0912-3456789"),  # 11 digits: mainland
        ("香港電話 9123 4567", pii.PHONE_HK, "9123 4567"),
        ("联系人电话：９１２３－４５６７", pii.PHONE_HK, "９１２３－４５６７"),
        ("Tel: 2345 6789.", pii.PHONE_HK, "2345 6789"),
        ("WhatsApp 61234567", pii.PHONE_HK, "61234567"),
        ("澳門電話 6612 3456", pii.PHONE_MO, "6612 3456"),
        ("Macau office, phone 2888 1234", pii.PHONE_MO, "2888 1234"),
        ("Hong Kong +852 9123 4567", pii.PHONE, "+852 9123 4567"),  # the +CC kind, as before
        ("台北 +886 912 345 678", pii.PHONE, "+886 912 345 678"),
    ],
)
def test_numbers_as_people_write_them(text: str, kind: str, found: str) -> None:
    assert [(f.kind, f.text) for f in pii.find(text)] == [(kind, found)]


@pytest.mark.parametrize(
    "text",
    [
        "订单号 4111111111111111 已发货",  # a valid Luhn number, named as an order
        "Order No. 6222020200001234567",
        "金额 ¥13,812,345,678.00，单价 13812345678.50 元",
        "日期 2023-12-01 12:30，2024年3月3日",
        "ISBN 978-7-111-12345-6",
        "server 192.168.10.200 version 1.13.812",
        "timestamps 1701388800123 and 1701388800",
        "12012345678 is not a mobile number",
        "批号 A: 110105491231002",  # 15 digits (no check digit) not named an ID
        "身份证 110105194913310021",  # month 13
        "TEL13812345678",  # glued to letters: a code, not a number
        "訂單編號 0912345678，金額 NT$12,345,678 元",
        "發票號碼 AB-12345678，统一编号 12345678",
        "電話費 23456789 元已繳",  # a phone bill's amount
        "金额 91234567 元，数量 2345 6789 件",  # 8 digits, no phone word
        "Total 91234567, Ref 23456789",
        "请联系我们确认金额 23456789 元",  # a phone word, but not just before the number
        "日期 2024-03-15，02-2023-12 期",
        "聯絡日期 2023-07-12，電話 20230712",  # a date after a phone word is still a date
        "帳號 0223456789 已開通",  # 10 digits from 02, bare and unnamed
        "Tel: 1234 5678 and phone 80012345",  # HK numbers never start 1; 800 is a service
    ],
)
def test_near_misses_are_not_taken(text: str) -> None:
    assert pii.find(text) == []


def test_masks_are_typed_in_the_texts_language_or_partial() -> None:
    text = "张三 13812345678，身份证 11010519491231002X，z.san@example.com"
    assert Redactor().redact(text) == "张三 [手机号]，身份证 [身份证号]，[邮箱]"
    assert Redactor(language="zh-Hant").redact(text) == "张三 [手機號]，身份证 [身分證號]，[郵箱]"
    assert Redactor().redact("Call +86 138-1234-5678.") == "Call [phone number]."
    partial = Redactor(style="partial")
    assert partial.redact(text) == "张三 138****5678，身份证 110105********002X，z***@example.com"
    assert partial.redact("+86 139-8765-4321") == "+86 139-****-4321"
    regional = "客戶 0912-345-678，香港電話 9123 4567，Office (02) 2345-6789"
    assert (
        Redactor(language="zh-Hant").redact(regional)
        == "客戶 [手機號]，香港電話 [電話號碼]，Office [電話號碼]"
    )
    assert (
        partial.redact(regional) == "客戶 0912-***-678，香港電話 91** **67，Office (02) 2***-*789"
    )
    # A document's own script: a Traditional customer file gets Traditional tokens.
    assert Redactor().redact(regional) == "客戶 [手機號]，香港電話 [電話號碼]，Office [電話號碼]"
    assert Redactor().redact("客户 0912345678") == "客户 [手机号]"
    only_mail = Redactor(kinds=frozenset({pii.EMAIL}))
    assert only_mail.redact(text) == "张三 13812345678，身份证 11010519491231002X，[邮箱]"


def test_check_digits_follow_their_standards() -> None:
    assert pii.id_cn_check("11010519491231002") == "X"  # GB 11643's published example
    assert pii.luhn_check_digit("7992739871") == "3"
    assert pii.id_cn_valid("11010519491231002X")
    assert not pii.id_cn_valid("11010520991231002X", today=date(2026, 1, 1))
    assert pii.hk_id_valid("A", "123456", "3") and not pii.hk_id_valid("A", "123456", "4")
    assert pii.tw_id_valid("A", "123456789") and not pii.tw_id_valid("A", "123456788")


def test_every_kind_is_a_setting_and_has_its_masks() -> None:
    assert set(get_args(PiiKind)) == set(pii.KINDS)
    assert all(set(tokens) == set(pii.KINDS) for tokens in TOKENS.values())
