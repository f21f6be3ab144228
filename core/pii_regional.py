"""Taiwan, Hong Kong and Macau phone numbers as written at home (``core.pii`` reads them after
the mainland kinds have had their turn).

A Taiwan mobile number (09 + 8 digits) is distinctive enough to take on its own, as a mainland
mobile is. A Taiwan landline (0 + area code + 5-8 digits, 9-10 digits in all) is taken when its
area code stands apart ((02) 2345-6789, 04-2234-5678) or a phone word is just before it: a bare
run of 9-10 digits is as often an account or order number. Its length never meets a mainland
landline's (0 + code + 7-8 digits: 11-12 in all), so neither is read as the other. Hong Kong
and Macau numbers are 8 digits with nothing to tell them from an amount, an order number or a
date, so they are taken only after a phone word (電話, 手机, Tel, WhatsApp …). Written with
+886 / +852 / +853 they stay the international kind (``phone``), as before.
"""

from __future__ import annotations

import re
from datetime import date

MOBILE_TW = "mobile_tw"
LANDLINE_TW = "landline_tw"
PHONE_HK = "phone_hk"
PHONE_MO = "phone_mo"

# Taiwan's area codes (without the trunk 0) and the lengths of their local numbers (NCC plan):
# 02 Taipei 8; 03, 05-08 7; 04 Taichung 8, Changhua 7; 037 Miaoli, 082 Kinmen, 089 Taitung 6;
# 049 Nantou 7; 0826 Wuqiu, 0836 Matsu 5.
_TW_AREAS: dict[str, tuple[int, ...]] = {
    "2": (8,),
    "3": (7,),
    "37": (6,),
    "4": (7, 8),
    "49": (7,),
    "5": (7,),
    "6": (7,),
    "7": (7,),
    "8": (7,),
    "82": (6,),
    "826": (5,),
    "836": (5,),
    "89": (6,),
}
# Words that say a phone number follows, in both scripts and English, with nothing but what
# such a label is written with between (聯絡電話：, 電話號碼, Tel: , Mobile / WhatsApp: ,
# call me at): "请联系我们确认金额 23456789" names no phone number. A bill (電話費) is not one.
_PHONE_WORDS = re.compile(
    r"(?:(?:電話|电话|手機|手机|聯絡|联络|聯繫|联系|聯系|致電|致电|熱線|热线|傳真|传真)(?![費费])|"
    r"(?<![A-Za-z])(?:tel|phone|telephone|mobile|mob|cell|whatsapp|fax|call|contact)(?![a-z]))"
    r"(?:[\s:：()（）#/.\-]|號碼|号码|號|号|是|為|为|人|number|no|is|at|on|me|us)*$",
    re.IGNORECASE,
)
_MACAU_WORDS = re.compile(r"澳門|澳门|macau|macao", re.IGNORECASE)


def mobile_tw_valid(digits: str) -> bool:
    return len(digits) == 10 and digits.startswith("09") and digits.isdigit()


def tw_area_code(national: str) -> str | None:
    """The longest Taiwan area code ``national`` (no trunk 0) starts with."""
    return next((national[:n] for n in (3, 2, 1) if national[:n] in _TW_AREAS), None)


def landline_tw_valid(digits: str, area: str | None = None) -> bool:
    """0, an area code (``area`` when it was written apart, else the longest that fits), then
    a local number of that area's length not starting 0."""
    if not digits.startswith("0") or not digits.isdigit():
        return False
    national = digits[1:]
    area = area if area is not None else tw_area_code(national)
    if area not in _TW_AREAS or not national.startswith(area):
        return False
    local = national[len(area) :]
    return len(local) in _TW_AREAS[area] and local[0] != "0"


def phone_hk_valid(digits: str) -> bool:
    """8 digits: fixed lines start 2-3, mobiles 4-9; 800 (free) and 900 (premium) numbers are
    services, not people."""
    return (
        len(digits) == 8
        and digits.isdigit()
        and digits[0] in "23456789"
        and not digits.startswith(("800", "900"))
    )


def phone_mo_valid(digits: str) -> bool:
    """8 digits: mobiles start 6, fixed lines 28."""
    return len(digits) == 8 and digits.isdigit() and digits.startswith(("6", "28"))


def _eight_digit_shape(digits: str, groups: list[str]) -> bool:
    """Written as Hong Kong and Macau numbers are (9123 4567, 9123-4567, 91234567, digit by
    digit), not as a date (2023-07-12, or 20230712: a real one)."""
    sizes = [len(g) for g in groups]
    if sizes == [8]:
        return not (digits[:2] in ("19", "20") and _real_date(digits))
    return sizes == [4, 4] or sizes == [1] * 8


def _real_date(yyyymmdd: str) -> bool:
    try:
        date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:8]))
    except ValueError:
        return False
    return True


def regional_kind(
    folded: str, start: int, digits: str, groups: list[str]
) -> tuple[str | None, int]:
    """The Taiwan, Hong Kong or Macau kind of the number written as ``groups`` from ``start``
    in ``folded`` (None: none), and where it starts once a ``(`` in front is included."""
    paren = folded[start - 1 : start] == "("
    if mobile_tw_valid(digits):
        return MOBILE_TW, start
    before = folded[max(0, start - 24) : start - paren]
    named = _PHONE_WORDS.search(before[-16:]) is not None
    written_apart = len(groups) > 1 and groups[0][:1] == "0" and groups[0][1:] in _TW_AREAS
    area = groups[0][1:] if written_apart else None
    if landline_tw_valid(digits, area) and (paren or area is not None or named):
        return LANDLINE_TW, start - paren
    if not named or paren or not _eight_digit_shape(digits, groups):
        return None, start
    if phone_mo_valid(digits) and _MACAU_WORDS.search(before):  # 6xxx xxxx is both places
        return PHONE_MO, start
    if phone_hk_valid(digits):
        return PHONE_HK, start
    return None, start
