"""Prompts as versioned files: ``<name>.v<N>.txt`` beside this module (package data).

A file holds ``--- system ---`` and ``--- user ---`` sections (``--- assistant ---`` too, for
examples) with ``$variables`` (``string.Template``: a literal dollar is ``$$``). Values are
substituted once and never re-read as template text, so passages may contain anything.

    messages = render("answer", question="…", passages=format_passages(texts))
    messages = render("answer", version="v1", …)       # pinned; default: the latest version

A new wording is a new file (``answer.v2.txt``): old versions stay for comparison and for
``LlmSettings.prompt_versions`` pins. The default is the version in :data:`DEFAULT_VERSIONS`,
else the latest: a new wording becomes the default once ``bench/answer_rate.py`` shows it better.

From ``answer.v4`` on, passages are quoted between ``<passage id="N">`` and ``</passage>``
(:func:`quote_passages`), and anything in a document's text that reads as such a tag, in any
look-alike spelling, is escaped: a document cannot close its passage, forge another one or
pass its words off as ours. Earlier versions number them ``[n] …`` (:func:`format_passages`),
which a document can imitate; they are kept only for comparison.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from functools import cache
from importlib import resources
from string import Template

from llm.client import Message

FILE_PATTERN = re.compile(r"^(?P<name>[a-z_]+)\.v(?P<number>\d+)\.txt$")
SECTION = re.compile(r"^--- (system|user|assistant) ---$", re.MULTILINE)
CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
# The first answer prompt version that quotes passages in tags.
TAGGED_FROM_VERSION = 4
# Versions used when none is asked for; a prompt not listed uses its latest. answer.v5 answers
# questions whose passages hold an injection attempt (v4 declines them) but declines fewer
# questions its passages cannot answer (bench/answer_rate.py, docs/benchmarks.md): not yet.
DEFAULT_VERSIONS: dict[str, str] = {"answer": "v4"}
# Characters a model may read as "<" (NFKC folds only some of them).
_ANGLE_LOOKALIKES = frozenset(
    "\u2039\u2329\u3008\u27e8\u300a\u276c\u276e\u02c2\u1438\uff1c\ufe64"
)  # angle quotes, CJK, math and ornament angle brackets, full-width and small forms
# "<passage", "</passage", "< / p a s s a g e" … in the folded text.
_TAG = re.compile(r"<\s*/?\s*p\s*a\s*s\s*s\s*a\s*g\s*e", re.IGNORECASE)
_ESCAPED_ANGLE = "&lt;"


class PromptError(LookupError):
    pass


def versions(name: str) -> list[str]:
    """``["v1", "v2", …]`` for prompt ``name``, oldest first."""
    numbers = sorted(
        int(match["number"])
        for entry in resources.files(__name__).iterdir()
        if (match := FILE_PATTERN.match(entry.name)) and match["name"] == name
    )
    return [f"v{n}" for n in numbers]


def render(name: str, *, version: str | None = None, **variables: str) -> list[Message]:
    """The chat messages of prompt ``name`` (its default version unless one is given)."""
    template = _load(name, version or default_version(name))
    messages = []
    for role, text in template:
        try:
            content = Template(text).substitute(variables)
        except KeyError as exc:
            raise PromptError(f"prompt {name!r} needs variable {exc.args[0]!r}") from None
        messages.append({"role": role, "content": content.strip()})
    return messages


def format_passages(passages: Sequence[str]) -> str:
    """Number passages ``[1] …``, ``[2] …`` as answer prompts up to v3 expect."""
    return "\n\n".join(f"[{i}] {text.strip()}" for i, text in enumerate(passages, start=1))


def quote_passages(passages: Sequence[str]) -> str:
    """Each passage between ``<passage id="N">`` and ``</passage>``, numbered from 1, its
    text neutralised by :func:`neutralise_tags`."""
    return "\n\n".join(
        f'<passage id="{i}">\n{neutralise_tags(text.strip())}\n</passage>'
        for i, text in enumerate(passages, start=1)
    )


def neutralise_tags(text: str) -> str:
    """``text`` with the opening bracket of anything that reads as a passage tag escaped
    (``&lt;/passage>``): spellings with full-width or look-alike brackets and letters, spaces,
    or invisible characters inside are found on a folded copy and escaped in the original."""
    folded: list[str] = []
    origin: list[int] = []  # index in ``text`` of each folded character
    for index, char in enumerate(text):
        if unicodedata.category(char) == "Cf":  # zero-width and other invisible characters
            continue
        for piece in "<" if char in _ANGLE_LOOKALIKES else unicodedata.normalize("NFKC", char):
            folded.append(piece)
            origin.append(index)
    starts = {origin[m.start()] for m in _TAG.finditer("".join(folded))}
    if not starts:
        return text
    return "".join(_ESCAPED_ANGLE if i in starts else c for i, c in enumerate(text))


def format_history(history: Sequence[Mapping[str, str]]) -> str:
    """Earlier turns as ``User: …`` / ``Assistant: …`` lines for the rewrite prompt."""
    speaker = {"user": "User", "assistant": "Assistant"}
    return "\n".join(
        f"{speaker.get(turn['role'], turn['role'])}: {turn['content'].strip()}"
        for turn in history
        if turn["role"] in speaker
    )


def answer_messages(
    question: str,
    passages: Sequence[str],
    *,
    language: str | None = None,
    version: str | None = None,
) -> list[Message]:
    """``language`` names the answer's language ("Chinese"); by default it is guessed from
    the question: small models told "the language of the question" often answer in English."""
    version = version or default_version("answer")
    tagged = int(version.removeprefix("v")) >= TAGGED_FROM_VERSION
    return render(
        "answer",
        version=version,
        question=question,
        passages=quote_passages(passages) if tagged else format_passages(passages),
        language=language or question_language(question),
    )


def question_language(question: str) -> str:
    if CJK.search(question):
        return "Chinese"
    if question.isascii():
        return "English"
    return "the language of the question"


def rewrite_messages(
    history: Sequence[Mapping[str, str]], question: str, *, version: str | None = None
) -> list[Message]:
    return render("rewrite", version=version, history=format_history(history), question=question)


def default_version(name: str) -> str:
    """The version of prompt ``name`` used when none is asked for."""
    return DEFAULT_VERSIONS.get(name) or _latest(name)


def _latest(name: str) -> str:
    found = versions(name)
    if not found:
        raise PromptError(f"no prompt named {name!r}")
    return found[-1]


@cache
def _load(name: str, version: str) -> tuple[tuple[str, str], ...]:
    entry = resources.files(__name__) / f"{name}.{version}.txt"
    if not entry.is_file():
        raise PromptError(f"no prompt {name!r} version {version!r}; have {versions(name)}")
    parts = SECTION.split(entry.read_text(encoding="utf-8"))
    # split() gives [preamble, role, text, role, text, …]; the preamble must be empty.
    if parts[0].strip() or len(parts) < 3:
        raise PromptError(f"{entry.name}: expected '--- system ---' / '--- user ---' sections")
    return tuple(zip(parts[1::2], parts[2::2], strict=True))
