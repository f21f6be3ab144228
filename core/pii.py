"""Personal data in text: e-mail addresses, phone numbers, identity-card and bank-card numbers,
found by validators rather than bare patterns (``core.pii_redact`` masks what is found).

A bare ``\\d{18}`` also takes order numbers, and ``1\\d{10}`` takes timestamps, so every
candidate must pass its kind's own rule: an 18-digit 居民身份证 its province code, a real birth
date and its ISO 7064 MOD 11-2 check character; a bank card the Luhn check and a card-network
first digit; a mainland mobile number its 1[3-9] prefix; a landline its area code's length; a
Hong Kong or Taiwan ID its check digit. What passes is still refused beside words that say it is
something else (订单号, order no.), and the digits of a decimal amount (¥13,812,345,678.00) or
a date (2023-12-01) never join a candidate. Taiwan, Hong Kong and Macau numbers written at home
are ``core.pii_regional``'s (the 8-digit ones only after a phone word).

Numbers are read in the forms people write them: full-width digits (１３８…, folded one
character for one so positions hold), grouped by spaces or dashes (138 1234 5678,
6222-0202-0000-1234), split digit by digit, with +86 / 0086 / (010) in front.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from core.pii_regional import LANDLINE_TW, MOBILE_TW, PHONE_HK, PHONE_MO, regional_kind

# Kinds, in the order a span claimed by two is given to (an ID before a card: an 18-digit
# number can pass Luhn by chance, one time in ten).
ID_CN = "id_cn"
ID_HK = "id_hk"
ID_TW = "id_tw"
BANK_CARD = "bank_card"
MOBILE_CN = "mobile_cn"
LANDLINE_CN = "landline_cn"
PHONE = "phone"  # international (+CC …) and North American ((415) 555-2671)
EMAIL = "email"
KINDS = (ID_CN, ID_HK, ID_TW, BANK_CARD, MOBILE_CN, LANDLINE_CN, MOBILE_TW, LANDLINE_TW)
KINDS += (PHONE_HK, PHONE_MO, PHONE, EMAIL)

# Full-width ASCII forms and the ideographic space, one character for one (NFKC on these, but
# never changing the text's length, so a finding's offsets are the original text's).
_FOLD = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}
_FOLD.update({0x3000: 0x20, 0x00A0: 0x20, 0x2010: 0x2D, 0x2011: 0x2D, 0x2012: 0x2D})
_FOLD.update({0x2013: 0x2D, 0x2014: 0x2D, 0x2212: 0x2D})

# A group: digits (an 18-digit ID may end in X). Groups join into a chain across at most three
# of space, dash or parenthesis: "(010) 6212-3456", "1 3 8 …", "+86 138 1234 5678".
_GROUP = re.compile(r"\d+(?: ?[Xx](?![A-Za-z0-9]))?")
_JOIN = re.compile(r"[ \-()]{1,3}")
# Words that say the number is not personal (an order, a waybill, an invoice…), just before it.
_NOT_PERSONAL = re.compile(
    r"(?:订单|訂單|单号|單號|运单|運單|快递|快遞|流水|发票|發票|工单|工單|合同|编号|編號|序列|批次|"
    r"(?<![A-Za-z])(?:order|invoice|tracking|waybill|serial|ref|reference|isbn|issn|doi|sku|"
    r"batch|ticket))[^\n\d]{0,6}$",
    re.IGNORECASE,
)
# The 15-digit (pre-1999) ID has no check digit: taken only when named just before it.
_ID_WORDS = re.compile(r"(身份证|身份證|证件|證件|id card|id no|identity)[^\n\d]{0,8}$", re.I)

# GB/T 2260 province-level codes (the first two digits of a mainland ID).
_PROVINCES = frozenset(
    re.findall(
        r"\d\d",
        "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 "
        "44 45 46 50 51 52 53 54 61 62 63 64 65 71 81 82 83 91",
    )
)
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
# Country calling codes with the national numbers' length range (E.164 caps the whole at 15).
_CC_ONE = {"1": (10, 10), "7": (10, 10)}
_CC_TWO = frozenset(
    re.findall(
        r"\d\d",
        "20 27 30 31 32 33 34 36 39 40 41 43 44 45 46 47 48 49 51 52 53 "
        "54 55 56 57 58 60 61 62 63 64 65 66 81 82 84 90 91 92 93 94 95 98",
    )
)

_EMAIL = re.compile(
    r"(?<![A-Za-z0-9.%+\-])[A-Za-z0-9](?:[A-Za-z0-9._%+\-]{0,62}[A-Za-z0-9_%+\-])?"
    r"@[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}"
    r"[A-Za-z0-9])?)*\.[A-Za-z]{2,24}(?![A-Za-z0-9\-])"
)
_HK_ID = re.compile(r"(?<![A-Za-z0-9])([A-Z]{1,2})(\d{6}) ?\(?([0-9A])\)?(?![A-Za-z0-9])")
_TW_ID = re.compile(r"(?<![A-Za-z0-9])([A-Z])([12]\d{8})(?![A-Za-z0-9])")
_TW_LETTERS = dict(zip("ABCDEFGHJKLMNPQRSTUVXYWZIO", range(10, 36), strict=True))


@dataclass(frozen=True)
class Finding:
    kind: str
    start: int
    end: int
    text: str  # as written (the original characters, separators included)


def fold(text: str) -> str:
    """``text`` with full-width digits, letters and dashes as ASCII, length unchanged."""
    return text if text.isascii() else text.translate(_FOLD)


def id_cn_check(first17: str) -> str:
    """The check character of a mainland ID's 17 digits (ISO 7064 MOD 11-2)."""
    return _ID_CHECK[sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


def luhn_check_digit(partial: str) -> str:
    """The digit that makes ``partial`` + it pass the Luhn check."""
    return str((10 - _luhn_sum(partial + "0")) % 10)


def id_cn_valid(number: str, today: date | None = None) -> bool:
    """An 18-character mainland ID (17 digits and a check character) or a 15-digit legacy one:
    province code, a birth date that exists and is not in the future, the check character."""
    number = number.upper()
    if len(number) == 15 and number.isdigit():
        birth = "19" + number[6:12]
    elif len(number) == 18 and number[:17].isdigit() and number[17] in "0123456789X":
        if id_cn_check(number[:17]) != number[17]:
            return False
        birth = number[6:14]
    else:
        return False
    return number[:2] in _PROVINCES and _real_birth(birth, today)


def _real_birth(yyyymmdd: str, today: date | None = None) -> bool:
    try:
        born = date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:8]))
    except ValueError:
        return False
    return date(1900, 1, 1) <= born <= (today or date.today())


def luhn_valid(digits: str) -> bool:
    return _luhn_sum(digits) % 10 == 0


def _luhn_sum(digits: str) -> int:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total


def bank_card_valid(digits: str) -> bool:
    """16-19 digits (15 for American Express) passing Luhn, starting as a card network's do:
    4 Visa, 5 and 2221-2720 Mastercard/Maestro, 35/36/38/39 JCB and Diners, 6 UnionPay (62),
    Discover and Maestro, 95 the older Chinese domestic cards (9558…)."""
    if not digits.isdigit():
        return False
    if len(digits) == 15:
        return digits[:2] in ("34", "37") and luhn_valid(digits)
    network = (
        digits[0] in "456"
        or 2221 <= int(digits[:4]) <= 2720
        or digits[:2] in ("35", "36", "38", "39", "95")
    )
    return 16 <= len(digits) <= 19 and network and luhn_valid(digits)


def id_cn_shaped(number: str) -> bool:
    """18 characters laid out as a mainland ID (a province, then a birth year 19xx or 20xx),
    whatever its check character or date: a mistyped ID, not a card number that passes Luhn
    by chance."""
    if len(number) != 18 or not number[:17].isdigit():
        return False
    return number[:2] in _PROVINCES and number[6:8] in ("19", "20")


def mobile_cn_valid(digits: str) -> bool:
    return len(digits) == 11 and digits[0] == "1" and digits[1] in "3456789" and digits.isdigit()


def landline_cn_valid(digits: str, national: bool = False) -> bool:
    """Area code then the local number: 0 + 10/2x + 8 digits, or 0 + 3-digit code + 7-8
    digits; ``national`` (after +86) without the leading 0. A local number starts with 2-9."""
    if not national:
        if not digits.startswith("0"):
            return False
        digits = digits[1:]
    if not digits.isdigit() or (digits[:1] in ("", "0", "1") and digits[:2] != "10"):
        return False
    if digits.startswith("10") or digits[0] == "2":
        local = digits[2:]
        return len(local) == 8 and local[0] not in "01"
    local = digits[3:]
    return len(local) in (7, 8) and local[0] not in "01"


def phone_intl_valid(digits: str) -> bool:
    """After a ``+``: a known country code and a national number of a plausible length (8-15
    digits in all, E.164). Mainland numbers (+86) are checked as mobiles and landlines."""
    if not digits.isdigit() or not 8 <= len(digits) <= 15 or digits.startswith("86"):
        return False
    if digits[0] in _CC_ONE:
        low, high = _CC_ONE[digits[0]]
        national = digits[1:]
        if digits[0] == "1" and national[:1] in ("0", "1"):
            return False
        return low <= len(national) <= high
    if digits[:2] in _CC_TWO:
        return 7 <= len(digits) - 2 <= 12
    # Three-digit codes (852 Hong Kong, 886 Taiwan, 853 Macao, 2xx/3xx/…): 6-12 digits after.
    return digits[0] in "2356789" and 6 <= len(digits) - 3 <= 12


def nanp_valid(groups: list[str]) -> bool:
    """(NPA) NXX-XXXX, as 3-3-4 groups: area code and exchange start with 2-9."""
    sizes = [len(g) for g in groups]
    return sizes == [3, 3, 4] and groups[0][0] in "23456789" and groups[1][0] in "23456789"


def hk_id_valid(letters: str, digits: str, check: str) -> bool:
    values = [36] * (2 - len(letters)) + [ord(c) - 55 for c in letters] + [int(d) for d in digits]
    total = sum(v * w for v, w in zip(values, range(9, 1, -1), strict=True))
    expected = (11 - total % 11) % 11
    return check == ("A" if expected == 10 else str(expected))


def tw_id_valid(letter: str, digits: str) -> bool:
    code = _TW_LETTERS.get(letter)
    if code is None:
        return False
    values = [code // 10, code % 10, *map(int, digits)]
    weights = (1, 9, 8, 7, 6, 5, 4, 3, 2, 1, 1)
    return sum(v * w for v, w in zip(values, weights, strict=True)) % 10 == 0


def find(text: str, kinds: frozenset[str] | None = None) -> list[Finding]:
    """The personal data in ``text``, in order, never overlapping."""
    folded = fold(text)
    found: list[tuple[int, int, str]] = []
    for match in _EMAIL.finditer(folded):
        found.append((match.start(), match.end(), EMAIL))
    for match in _HK_ID.finditer(folded):
        if hk_id_valid(*match.groups()):
            found.append((match.start(), match.end(), ID_HK))
    for match in _TW_ID.finditer(folded):
        if tw_id_valid(*match.groups()):
            found.append((match.start(), match.end(), ID_TW))
    taken = [(s, e) for s, e, _ in found]
    for chain in _chains(folded, taken):
        found.extend(_numbers(folded, chain))
    kept: list[tuple[int, int, str]] = []
    for start, end, kind in sorted(found, key=lambda f: (f[0], -(f[1] - f[0]))):
        if kinds is not None and kind not in kinds:
            continue
        if kept and start < kept[-1][1]:
            continue
        kept.append((start, end, kind))
    return [Finding(kind, s, e, text[s:e]) for s, e, kind in kept]


Group = tuple[int, int]  # start, end in the folded text


def _chains(folded: str, taken: list[tuple[int, int]]) -> list[list[Group]]:
    """Runs of digit groups joined by short separators. A group inside an e-mail address or a
    letter-led ID, or glued to letters, a decimal point or a thousands comma, joins none."""
    chains: list[list[Group]] = []
    current: list[Group] = []
    for match in _GROUP.finditer(folded):
        start, end = match.span()
        before = folded[start - 1] if start else ""
        after = folded[end] if end < len(folded) else ""
        glued = (before.isascii() and before.isalpha()) or (after.isascii() and after.isalpha())
        decimal = (start >= 2 and before in ".,:/" and folded[start - 2].isdigit()) or (
            after != "" and after in ".,:/" and folded[end + 1 : end + 2].isdigit()
        )
        if glued or decimal or any(s <= start < e for s, e in taken):
            if current:
                chains.append(current)
            current = []
            continue
        if current and not _JOIN.fullmatch(folded[current[-1][1] : start]):
            chains.append(current)
            current = []
        if current and folded[current[-1][1] - 1] in "Xx":
            chains.append(current)  # an ID's X ends it
            current = []
        current.append((start, end))
    if current:
        chains.append(current)
    return chains


def _numbers(folded: str, chain: list[Group]) -> list[tuple[int, int, str]]:
    """The valid numbers in one chain: from each group, the longest run of whole groups that
    some kind accepts (19 digits at most, the longest kind), then on after it."""
    found: list[tuple[int, int, str]] = []
    i = 0
    while i < len(chain):
        best: tuple[int, int, str] | None = None
        best_j = i
        digits = ""
        for j in range(i, len(chain)):
            digits += folded[chain[j][0] : chain[j][1]].replace(" ", "")
            if len(digits) > 19:
                break
            groups = [folded[s:e] for s, e in chain[i : j + 1]]
            kind, start = _classify(folded, chain[i][0], digits, groups)
            if kind is not None and not _cut_out(folded, chain, i, j, kind):
                best, best_j = (start, chain[j][1], kind), j
        if best is None:
            i += 1
            continue
        found.append(best)
        i = best_j + 1
    return found


def _cut_out(folded: str, chain: list[Group], i: int, j: int, kind: str) -> bool:
    """Whether groups ``i..j`` are only a piece of a longer number written the same way: a
    cut through digits written one by one (5 1 3 9 7 …), or a card-length run of groups that
    goes on with the same separator (6213 0405 7511 9194 858: 19 digits failing Luhn, whose
    first 16 pass it by chance, and whose last 12 read as a landline). Two phone numbers
    listed with nothing but a space between them are lost to this rule."""

    def size(k: int) -> int:
        return chain[k][1] - chain[k][0]

    def join(k: int) -> str:  # the separator after group k
        return folded[chain[k][1] : chain[k + 1][0]]

    if i > 0 and size(i - 1) == 1 and size(i) == 1:
        return True
    if j + 1 < len(chain) and size(j) == 1 and size(j + 1) == 1:
        return True
    if i == j:
        return False
    inner = join(i)
    length = sum(size(k) for k in range(i, j + 1))
    before = i > 0 and join(i - 1) == inner and length + size(i - 1) <= 19
    after = j + 1 < len(chain) and join(j) == inner and length + size(j + 1) <= 19
    return before or after


def _classify(folded: str, start: int, digits: str, groups: list[str]) -> tuple[str | None, int]:
    """The kind of the number written as ``groups`` from ``start`` (None: not personal data),
    and where it starts once a ``+86``/``+1`` in front is included."""
    lead = folded[max(0, start - 2) : start]
    plus = lead.endswith("+") or lead == "+(" or lead == "+ "
    head = start - (len(lead) - lead.index("+")) if plus else start
    if _NOT_PERSONAL.search(folded[max(0, head - 16) : head]):
        return None, start
    upper = digits.upper()
    if len(upper) == 18 and id_cn_valid(upper):
        return ID_CN, start
    named = _ID_WORDS.search(folded[max(0, start - 16) : start])
    if len(digits) == 15 and len(groups) == 1 and named and id_cn_valid(digits):
        return ID_CN, start
    if not digits.isdigit():
        return None, start
    national = digits
    if plus or digits.startswith("0086"):
        national = digits[2:] if plus else digits[4:]
        if not ((plus and digits.startswith("86")) or digits.startswith("0086")):
            national = ""
    if national != digits:
        if national and mobile_cn_valid(national):
            return MOBILE_CN, head
        if national and landline_cn_valid(national, national=True):
            return LANDLINE_CN, head
        if plus and phone_intl_valid(digits):
            return PHONE, head
        return None, start
    if bank_card_valid(digits) and not id_cn_shaped(digits):
        return BANK_CARD, start
    if mobile_cn_valid(digits):
        return MOBILE_CN, start
    if landline_cn_valid(digits) and (len(groups) > 1 or folded[start - 1 : start] == "("):
        return LANDLINE_CN, start - (folded[start - 1 : start] == "(")
    if len(groups) == 1 and landline_cn_valid(digits) and digits[1] in "12":
        return LANDLINE_CN, start  # 02087654321: a big city's number written as one
    if nanp_valid(groups) or (groups[0] == "1" and nanp_valid(groups[1:])):
        return PHONE, start - (folded[start - 1 : start] == "(")
    return regional_kind(folded, start, digits, groups)
