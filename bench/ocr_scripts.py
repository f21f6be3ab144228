"""OCR in the page's own Chinese script: characters right and seconds per page, with one
Chinese model (``eng+chi_sim``, the default before) and with both (``eng+chi_sim+chi_tra``,
the default now: each page read in the script it is written in, ``ingest/ocr.py``).

    python -m bench.ocr_scripts [--out bench/results/ocr-scripts.json]

Pages are drawn here with the CJK font the install brings (WenQuanYi Zen Hei): two texts per
script plus one mixed Traditional/English, each clean, blurred with noise and at half size,
and one A4 page at 300 dpi per script. "Right" is difflib's similarity of the OCR text to the
drawn text, spaces removed; "own script" says whether the reading kept the page's script
(no Simplified-only character in a Traditional page's text, and the reverse). The two
settings read each page one after the other, so both see the same machine load.
"""

from __future__ import annotations

import argparse
import difflib
import json
import statistics
import textwrap
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from bench.common import REPO_ROOT, machine_info
from core.text_forms import to_simplified, to_traditional

FONT = "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"
SETTINGS = ("eng+chi_sim", "eng+chi_sim+chi_tra")
TEXTS = {
    "trad-leave": (
        "trad",
        "員工請假規定第三條：醫療費用報銷期限為三十天，會議室預約請至總務處登記。",
    ),
    "trad-contract": (
        "trad",
        "合約金額為新臺幣八十萬元，付款方式為銀行轉帳，違約責任由雙方協商確定。",
    ),
    "simp-travel": (
        "simp",
        "报销制度第三条：差旅住宿标准为每晚五百元，出差前须提交申请并经主管批准。",
    ),
    "simp-contract": (
        "simp",
        "合同金额为人民币八十万元，付款方式为银行转账，违约责任由双方协商确定。",
    ),
    "en-policy": (
        "en",
        "The Lisbon office is open from nine to five on weekdays. Employees request leave "
        "two weeks ahead, and medical claims are reimbursed within thirty days.",
    ),
    "en-invoice-caps": ("en", "INVOICE NO. 2024-117 ACME TRADING LTD. TOTAL DUE USD 4,250 NET 30"),
    "trad-mixed": (
        "trad",
        "請使用 VPN 連線至公司網路，密碼每 90 天更新一次。"
        "The IT helpdesk 聯絡電話為 02-2345-6789。",
    ),
}


def draw(text: str, width_chars: int, size: int, canvas: tuple[int, int] | None) -> Image.Image:
    font = ImageFont.truetype(FONT, size)
    lines = textwrap.wrap(text, width_chars)
    image = Image.new("RGB", canvas or (1400, 120 + int(size * 2) * len(lines)), "white")
    pen = ImageDraw.Draw(image)
    for row, line in enumerate(lines):
        pen.text((60, 60 + row * int(size * 2)), line, fill="black", font=font)
    return image


def variants(image: Image.Image) -> dict[str, Image.Image]:
    grey = np.array(image.convert("L").filter(ImageFilter.GaussianBlur(1.0))).astype(float)
    grey += np.random.default_rng(1).normal(0, 30, grey.shape)
    noisy = Image.fromarray(grey.clip(0, 255).astype("uint8")).convert("RGB")
    return {
        "clean": image,
        "noisy": noisy,
        "half": image.resize((image.width // 2, image.height // 2)),
    }


def pages() -> list[tuple[str, str, str, Image.Image]]:
    out = []
    for name, (script, text) in TEXTS.items():
        width = 40 if script == "en" else 16
        for kind, image in variants(draw(text, width, 44, None)).items():
            out.append((f"{name}-{kind}", script, text, image))
    for name in ("trad-leave", "simp-travel"):
        script, text = TEXTS[name]
        out.append((f"{name}-a4", script, text * 6, draw(text * 6, 40, 40, (2480, 3508))))
    return out


def own_script(script: str, text: str) -> bool:
    han = "".join(c for c in text if "\u4e00" <= c <= "\u9fff")
    if script == "en":
        return not han
    # A Traditional page's text holds no character Traditional writes otherwise, and back.
    return han == (to_traditional(han) if script == "trad" else to_simplified(han))


def similarity(read: str, drawn: str) -> float:
    plain = ("".join(read.split()), "".join(drawn.split()))
    return difflib.SequenceMatcher(None, *plain, autojunk=False).ratio()


def main() -> None:
    import ingest.unstructured_runtime  # noqa: F401  (unstructured configured as the product does)
    from ingest.ocr import SpatialTesseractAgent

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "bench/results/ocr-scripts.json")
    args = parser.parse_args()
    rows = []
    for name, script, text, image in pages():
        for setting in SETTINGS:
            started = time.perf_counter()
            read = "".join(
                SpatialTesseractAgent(setting).get_layout_elements_from_image(image).texts
            )
            seconds = time.perf_counter() - started
            rows.append({
                "page": name, "script": script, "setting": setting, "seconds": round(seconds, 2),
                "right": round(similarity(read, text), 3), "own_script": own_script(script, read),
                "read": read[:60],
            })  # fmt: skip
            print(f"{name:22} {setting:20} {seconds:5.2f}s right {rows[-1]['right']:.3f} "
                  f"own {rows[-1]['own_script']!s:5} {read[:24]!r}", flush=True)  # fmt: skip
    summary = {}
    for setting in SETTINGS:
        for script in ("trad", "simp", "en"):
            mine = [r for r in rows if r["setting"] == setting and r["script"] == script]
            summary[f"{setting}/{script}"] = {
                "pages": len(mine),
                "right_mean": round(statistics.mean(r["right"] for r in mine), 3),
                "own_script": sum(r["own_script"] for r in mine),
                "seconds_total": round(sum(r["seconds"] for r in mine), 2),
            }
    report = {"machine": machine_info(), "rows": rows, "summary": summary}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n")
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
