"""Precision and recall of the personal-data detector (``core.pii``) on a generated, labelled set.

Sentences in Simplified and Traditional Chinese and in English carry valid numbers and
addresses in the forms people write them (grouped, full-width, digit by digit, +86 / 0086,
(021) …), and near misses that must not be taken: an ID with a wrong check character or an
impossible birth date, a card number failing Luhn, order and waybill numbers (16-19 digits,
named as such, and bare), dates, amounts, ISBNs, timestamps, IP addresses, 11-digit numbers
starting 12; Taiwan mobiles and landlines, Hong Kong and Macau numbers after a phone word, and
their near misses (8 digits with no phone word, NT$ amounts, invoice numbers). Every item is
labelled, so precision and recall are per kind, and each near-miss category reports how often
it was (wrongly) taken.

    python -m bench.pii_eval --sentences 20000 --seed 7 --out bench/results/pii_eval.json
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections import Counter
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

from bench.common import load_average, machine_info
from core import pii

PROVINCES = ["11", "13", "21", "31", "32", "33", "37", "41", "44", "51", "62", "65", "81"]
FULL = str.maketrans("0123456789", "０１２３４５６７８９")
Item = tuple[str, str]  # (label: a pii kind, or "neg:<category>"), text as written
# Words written before an item, outside its labelled span (a phone word before a Hong Kong
# number): (label, lead, text).
LeadItem = tuple[str, str, str]
PHONE_WORDS = ["聯絡電話：", "電話 ", "手机 ", "联系电话：", "Tel: ", "Mobile ", "WhatsApp "]


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


def _birth(rng: random.Random) -> str:
    return (date(1940, 1, 1) + timedelta(days=rng.randrange(365 * 70))).strftime("%Y%m%d")


def _id17(rng: random.Random) -> str:
    return rng.choice(PROVINCES) + _digits(rng, 4) + _birth(rng) + _digits(rng, 3)


def _card(rng: random.Random, valid: bool = True) -> str:
    prefix = rng.choice(["62", "62", "4", "5", "6011", "35"])
    length = rng.choice([16, 16, 16, 19]) if prefix == "62" else 16
    body = prefix + _digits(rng, length - len(prefix) - 1)
    check = pii.luhn_check_digit(body)
    return body + (check if valid else str((int(check) + rng.randint(1, 9)) % 10))


def _group(number: str, sizes: list[int], sep: str) -> str:
    parts, at = [], 0
    for size in sizes:
        parts.append(number[at : at + size])
        at += size
    if at < len(number):
        parts.append(number[at:])
    return sep.join(p for p in parts if p)


def _written(rng: random.Random, number: str, sizes: list[int]) -> str:
    """One of the ways people write a number: as is, grouped, full-width, digit by digit."""
    form = rng.random()
    if form < 0.4:
        return number
    if form < 0.7:
        return _group(number, sizes, rng.choice([" ", "-"]))
    if form < 0.85:
        return number.translate(FULL)
    return " ".join(number)


def positive(rng: random.Random) -> Item:
    kind = rng.choice(["id", "id", "card", "mobile", "mobile", "land", "intl", "mail", "hk", "tw"])
    if kind == "id":
        first = _id17(rng)
        check = pii.id_cn_check(first)
        number = first + (check.lower() if check == "X" and rng.random() < 0.3 else check)
        return pii.ID_CN, _written(rng, number, [6, 8, 4])
    if kind == "card":
        number = _card(rng)
        return pii.BANK_CARD, _written(rng, number, [4, 4, 4, 4])
    if kind == "mobile":
        number = "1" + rng.choice("3456789") + _digits(rng, 9)
        text = _written(rng, number, [3, 4, 4])
        lead = rng.choice(["", "", "+86 ", "+86-", "0086 ", "+86"])
        return pii.MOBILE_CN, lead + text
    if kind == "land":
        code = rng.choice(["010", "021", "020", "0755", "0571", "0898"])
        local = rng.choice("23456789") + _digits(rng, 7 if len(code) == 3 else rng.choice([6, 7]))
        shape = rng.choice(["{c}-{l}", "({c}) {a} {b}", "{c} {l}", "+86 {n} {l}"])
        half = len(local) // 2
        text = shape.format(c=code, l=local, a=local[:half], b=local[half:], n=code[1:])
        return pii.LANDLINE_CN, text
    if kind == "intl":
        return pii.PHONE, rng.choice(
            [
                f"+44 20 {_digits(rng, 4)} {_digits(rng, 4)}",
                f"+1 {rng.choice('23456789')}{_digits(rng, 2)} {rng.choice('23456789')}"
                f"{_digits(rng, 2)} {_digits(rng, 4)}",
                f"({rng.choice('23456789')}{_digits(rng, 2)}) {rng.choice('23456789')}"
                f"{_digits(rng, 2)}-{_digits(rng, 4)}",
                f"+852 {rng.choice('2356789')}{_digits(rng, 3)} {_digits(rng, 4)}",
                f"+49 30 {_digits(rng, 8)}",
                f"+81 3-{_digits(rng, 4)}-{_digits(rng, 4)}",
            ]
        )
    if kind == "mail":
        user = rng.choice(["zhang.san", "li_si", "wang.wu+kb", "j.doe", "chen88"])
        host = rng.choice(["example.com", "corp.example.cn", "mail.example.com.tw", "qq.com"])
        return pii.EMAIL, f"{user}@{host}"
    if kind == "hk":
        letter = rng.choice("ACEGKMPRVYZ")
        digits = _digits(rng, 6)
        check = next(c for c in "0123456789A" if pii.hk_id_valid(letter, digits, c))
        return pii.ID_HK, f"{letter}{digits}({check})"
    letter = rng.choice("ABCDEFGHJKLMNPQRSTUVXYWZ")
    while True:
        digits = rng.choice("12") + _digits(rng, 8)
        if pii.tw_id_valid(letter, digits):
            return pii.ID_TW, letter + digits


def regional(rng: random.Random) -> LeadItem:
    """A Taiwan mobile or landline, or a Hong Kong or Macau number after a phone word."""
    kind = rng.choice(["tw_mobile", "tw_mobile", "tw_land", "hk", "mo"])
    if kind == "tw_mobile":
        return pii.MOBILE_TW, "", _written(rng, "09" + _digits(rng, 8), [4, 3, 3])
    if kind == "tw_land":
        area, size = rng.choice([("02", 8), ("04", 8), ("03", 7), ("07", 7), ("037", 6)])
        local = rng.choice("23456789") + _digits(rng, size - 1)
        half = size // 2
        shape = rng.choice(["({c}) {a}-{b}", "{c}-{a}-{b}", "{c}-{l}", "({c}){l}", "{c} {a} {b}"])
        text = shape.format(c=area, l=local, a=local[:half], b=local[half:])
        return pii.LANDLINE_TW, "", text.translate(FULL) if rng.random() < 0.15 else text
    if kind == "hk":
        number = "900"
        while number.startswith("900"):  # premium-rate services: not a person's number
            number = rng.choice("2345679") + _digits(rng, 7)
        return pii.PHONE_HK, rng.choice(PHONE_WORDS), _written(rng, number, [4])
    number = rng.choice(["6", "28"]) + _digits(rng, 7)
    lead = rng.choice(["澳門電話 ", "澳门手机 ", "Macau phone: "])
    return pii.PHONE_MO, lead, _written(rng, number[:8], [4])


def _bad_id(rng: random.Random) -> str:
    first = _id17(rng)
    if rng.random() < 0.5:  # wrong check character
        good = pii.id_cn_check(first)
        return first + rng.choice([c for c in "0123456789X" if c != good])
    first = first[:10] + "13" + first[12:]  # month 13: no such birth date
    return first + pii.id_cn_check(first)


NEGATIVES: dict[str, Callable[[random.Random], str]] = {
    "id_bad_check_or_date": _bad_id,
    "card_bad_luhn": lambda rng: _written(rng, _card(rng, valid=False), [4, 4, 4, 4]),
    "order_named": lambda rng: (
        rng.choice(["订单号 ", "訂單編號：", "Order No. ", "运单号"]) + _card(rng)
    ),
    "order_bare": lambda rng: "20" + _digits(rng, rng.choice([14, 16, 17])),
    "date": lambda rng: rng.choice(
        [
            f"2023-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
            f"2024年{rng.randint(1, 12)}月3日",
        ]
    ),
    "amount": lambda rng: rng.choice(
        [
            f"¥{rng.randint(1, 999)},{_digits(rng, 3)},{_digits(rng, 3)}.00",
            f"138{_digits(rng, 8)}.50元",
        ]
    ),
    "isbn": lambda rng: f"ISBN 978-7-{_digits(rng, 3)}-{_digits(rng, 5)}-{_digits(rng, 1)}",
    "timestamp": lambda rng: "17" + _digits(rng, rng.choice([8, 11])),
    "ip_version": lambda rng: f"192.168.{rng.randint(0, 255)}.{rng.randint(0, 255)}",
    "mobile_bad_prefix": lambda rng: "12" + _digits(rng, 9),
    # Hard by design: bare random numbers that only chance separates from a card (a network
    # prefix and Luhn pass about one in twenty) or that are a mobile number's shape exactly.
    "random_16_digits": lambda rng: rng.choice("123456789") + _digits(rng, 15),
    "random_11_digits_1x": lambda rng: "1" + rng.choice("3456789") + _digits(rng, 9),
    # Hong Kong / Macau / Taiwan near misses: 8 digits with no phone word just before (an
    # amount, a quantity, a 統一編號), grouped or not; NT$ amounts; invoice numbers; 09…
    # named as an order; a bare 9-10 digit run from 0 (an account number). Each has a word of
    # its own before it: right after 请联系 / Please contact (the templates') it would be a
    # phone number by the detector's rule, and by a reader's.
    "eight_digits_unnamed": lambda rng: (
        rng.choice(["金額 ", "數量 ", "统一编号 ", "Total ", "编号 ", "see "])
        + _written(rng, rng.choice("23456789") + _digits(rng, 7), [4])
    ),
    "amount_ntd": lambda rng: f"NT${rng.randint(1, 99)},{_digits(rng, 3)},{_digits(rng, 3)}",
    "invoice_tw": lambda rng: (
        f"發票號碼 {rng.choice(['AB', 'QX', 'ZK'])}-{rng.choice('23456789')}{_digits(rng, 7)}"
    ),
    "order_named_09": lambda rng: rng.choice(["訂單編號 ", "Order No. "]) + "09" + _digits(rng, 8),
    "zero_led_bare": lambda rng: (
        rng.choice(["帳號 ", "账号 ", "Account ", "客戶代碼 "])
        + "0"
        + rng.choice("2345678")
        + _digits(rng, rng.choice([7, 8]))
    ),
}

TEMPLATES = {
    "zh-Hans": ["请联系{x}，谢谢。", "客户资料：{x}；备注：已核实。", "他在表格里填了{x}和地址。"],
    "zh-Hant": ["請聯絡{x}，謝謝。", "客戶資料：{x}；備註：已核實。"],
    "en": ["Please contact {x} before Friday.", "Customer record: {x}; verified.", "See {x}."],
}


def sentence(rng: random.Random) -> tuple[str, list[tuple[str, int, int]]]:
    """A sentence with one or two labelled items: (label, start, end) each."""
    language = rng.choice(list(TEMPLATES))
    items: list[LeadItem] = []
    for _ in range(rng.choice([1, 1, 2])):
        if rng.random() < 0.55:
            if rng.random() < 0.25:
                items.append(regional(rng))
            else:
                label, written = positive(rng)
                items.append((label, "", written))
        else:
            category = rng.choice(list(NEGATIVES))
            items.append((f"neg:{category}", "", NEGATIVES[category](rng)))
    joiner = "，以及" if language != "en" else ", and "
    template = rng.choice(TEMPLATES[language])
    head = template.split("{x}")[0]
    text, spans, at = head, [], len(head)
    for n, (label, lead, written) in enumerate(items):
        if n:
            text += joiner
            at += len(joiner)
        text += lead
        at += len(lead)
        spans.append((label, at, at + len(written)))
        text += written
        at += len(written)
    return text + template.split("{x}")[1], spans


# Negatives no validator can tell from the real thing (they are valid in form): reported apart,
# with the precision they would cost if a text held as many of them.
AMBIGUOUS = frozenset({"random_16_digits", "random_11_digits_1x"})


def evaluate(sentences: int, seed: int) -> dict[str, object]:
    rng = random.Random(seed)
    positives: Counter[str] = Counter()
    found: Counter[str] = Counter()
    ambiguous: Counter[str] = Counter()  # findings on an ambiguous negative, by kind
    hits: Counter[str] = Counter()
    negatives: Counter[str] = Counter()
    taken: Counter[str] = Counter()
    examples: dict[str, list[str]] = {}
    chars = 0
    spent = 0.0
    for _ in range(sentences):
        text, spans = sentence(rng)
        chars += len(text)
        started = time.perf_counter()
        findings = pii.find(text)
        spent += time.perf_counter() - started
        for f in findings:
            on = [lb for lb, st, en in spans if st < f.end and f.start < en]
            if any(lb[4:] in AMBIGUOUS for lb in on):
                ambiguous[f.kind] += 1
                continue
            found[f.kind] += 1
            if f.kind not in on:
                examples.setdefault(f"false:{f.kind}", []).append(f"{f.text} in {text}")
        for label, start, end in spans:
            overlapping = [f for f in findings if f.start < end and start < f.end]
            if label.startswith("neg:"):
                negatives[label[4:]] += 1
                if overlapping:
                    taken[label[4:]] += 1
                    examples.setdefault(label, []).append(text[start:end])
                continue
            positives[label] += 1
            if any(f.kind == label and f.start <= start and f.end >= end for f in overlapping):
                hits[label] += 1
            else:
                examples.setdefault(label, []).append(text)
    kinds = {}
    for kind in pii.KINDS:
        kinds[kind] = {
            "positives": positives[kind],
            "found": found[kind],
            "true_positives": hits[kind],
            "precision": round(hits[kind] / found[kind], 4) if found[kind] else None,
            "recall": round(hits[kind] / positives[kind], 4) if positives[kind] else None,
            "taken_from_ambiguous": ambiguous[kind],
            "precision_with_ambiguous": round(hits[kind] / (found[kind] + ambiguous[kind]), 4)
            if found[kind]
            else None,
        }
    total_found, total_hits = sum(found.values()), sum(hits.values())
    return {
        "sentences": sentences,
        "seed": seed,
        "kinds": kinds,
        "overall": {
            "precision": round(total_hits / total_found, 4),
            "recall": round(total_hits / sum(positives.values()), 4),
        },
        "near_misses": {c: {"items": negatives[c], "taken": taken[c]} for c in sorted(NEGATIVES)},
        "missed_or_wrong_examples": {k: v[:3] for k, v in sorted(examples.items())},
        "chars_per_s": round(chars / spent),
        "load_average": load_average(),
    }


def markdown(result: dict[str, object]) -> str:
    lines = [
        "| kind | items | found | precision | recall | + ambiguous taken | precision with them |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for kind, row in result["kinds"].items():  # type: ignore[attr-defined]
        cells = [kind, row["positives"], row["found"], row["precision"], row["recall"]]
        cells += [row["taken_from_ambiguous"], row["precision_with_ambiguous"]]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    lines += ["", "| near miss | items | taken |", "|---|---:|---:|"]
    for category, row in result["near_misses"].items():  # type: ignore[attr-defined]
        lines.append(f"| {category} | {row['items']} | {row['taken']} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path("bench/results/pii_eval.json"))
    args = parser.parse_args()
    result = evaluate(args.sentences, args.seed)
    result["machine"] = machine_info()
    args.out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n")
    print(markdown(result))
    print(json.dumps(result["overall"]), "chars/s", result["chars_per_s"])
    print(json.dumps(result["missed_or_wrong_examples"], ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
