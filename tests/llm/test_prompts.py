"""Versioned prompt files: rendering, version choice, and their place in the built wheel."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from llm.citations import DONT_KNOW
from llm.prompts import (
    PromptError,
    answer_messages,
    format_passages,
    render,
    rewrite_messages,
    versions,
)
from tests.support import REPO_ROOT


def test_answer_prompt_numbers_passages_and_names_the_dont_know_sentence() -> None:
    messages = answer_messages("How long is the warranty?", ["Two years.", "Made in Ghent."])
    assert messages[0]["role"] == "system"
    # Worked examples (if any) alternate user/assistant; the real question comes last.
    assert [m["role"] for m in messages[1:]] == ["user", "assistant"] * (len(messages) // 2 - 1) + [
        "user"
    ]
    last = messages[-1]["content"]
    assert DONT_KNOW in last
    assert '<passage id="1">\nTwo years.\n</passage>\n\n<passage id="2">\nMade in Ghent.' in last
    pinned = answer_messages("How long?", ["Two years.", "Made in Ghent."], version="v3")
    assert "[1] Two years.\n\n[2] Made in Ghent." in pinned[-1]["content"]
    assert "Question: How long is the warranty?" in last
    assert "in English," in last


def test_values_are_inserted_literally() -> None:
    tricky = "costs $5 {not a field} $question ${passages}"
    messages = render(
        "answer", question=tricky, passages=format_passages([tricky]), language="English"
    )
    assert messages[-1]["content"].count(tricky) == 2


def test_the_answer_language_follows_the_question() -> None:
    assert "in Chinese," in answer_messages("保修多久？", ["两年。"])[-1]["content"]
    assert (
        "in German," in answer_messages("Wie lange?", ["Zwei."], language="German")[-1]["content"]
    )
    assert (
        "in the language of the question," in answer_messages("Wie läuft's?", ["x"])[-1]["content"]
    )


def test_rewrite_prompt_carries_the_history() -> None:
    history = [
        {"role": "user", "content": "Tell me about the Zorblax 9."},
        {"role": "assistant", "content": "It is a vacuum cleaner [1]."},
        {"role": "system", "content": "not shown"},
    ]
    user = rewrite_messages(history, "How much does it weigh?")[-1]["content"]
    assert "User: Tell me about the Zorblax 9.\nAssistant: It is a vacuum cleaner [1]." in user
    assert "not shown" not in user
    assert "Last question: How much does it weigh?" in user


def test_versions_are_listed_and_selectable() -> None:
    assert versions("answer")[0] == "v1"
    pinned = render("answer", version="v1", question="q", passages="p", language="English")
    latest = render("answer", question="q", passages="p", language="English")
    assert pinned == latest or len(versions("answer")) > 1


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: render("nonexistent"), "no prompt named"),
        (lambda: render("answer", version="v999", question="q"), "v999"),
        (lambda: render("answer", question="q"), "passages"),
    ],
)
def test_mistakes_are_reported(call: object, message: str) -> None:
    with pytest.raises(PromptError, match=message):
        call()  # type: ignore[operator]


@pytest.mark.slow
def test_an_installed_wheel_carries_the_prompt_files(tmp_path: Path) -> None:
    # Built from a copy: an in-tree build would leave build/ and egg-info in the checkout.
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO_ROOT / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for package in ("core", "ingest", "index", "retrieval", "llm", "api", "workers", "zhiku"):
        if (REPO_ROOT / package).is_dir():
            shutil.copytree(REPO_ROOT / package, source / package, ignore=ignore)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path), str(source)],
        check=True, capture_output=True,
    )  # fmt: skip
    (wheel,) = tmp_path.glob("zhiku-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for name in ("answer", "rewrite"):
        for version in versions(name):
            assert f"llm/prompts/{name}.{version}.txt" in names
