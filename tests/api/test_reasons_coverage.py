"""Every sentence the product can refuse a caller with has a Chinese rendering.

The raise sites are read from the source (``ast``), not listed by hand: each construction
(raised there, or returned for a caller to raise) of a user-facing error class
(``InvalidInput``, ``NotFound``, ``HTTPException``, …) and each ``ValueError`` of a request
validator, its message rebuilt with every ``{placeholder}`` filled
by a sample. A new English-only message fails here, naming its file and line. Messages built at
run time (``str(exc)``, a variable) cannot be read this way: those sites are listed in
``DYNAMIC`` with where their words come from, and a new one fails until it is listed.

Also covered generically: every pydantic error type (422 field errors) and every 503 wording.
"""

from __future__ import annotations

import ast
import functools
import re
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydantic_core import core_schema

from api.errors import public_detail
from api.reasons import localize
from api.validation_words import TEMPLATES, chinese
from api.web.i18n import CHINESE, TRADITIONAL
from core.errors import Component, Outage, UpstreamUnavailable
from core.settings import LimitsSettings

ROOT = Path(__file__).resolve().parents[2]
# Where a caller's refusals and a document's failure reasons are raised. ``index`` and
# ``llm`` are left out but for the one index error that reaches a caller: their other
# ``InvalidInput`` guard the code's own calls (a chunk id that is not a UUID), never a person's.
SOURCES = ("api", "services", "core", "ingest", "retrieval", "workers", "zhiku/worker.py")
EXTRA_FILES = ("index/qdrant_server.py",)
# The classes whose text a caller reads (api.errors); their subclasses, wherever defined,
# are found in the source too (``_with_subclasses``). ``UpstreamUnavailable`` is not one:
# its caller reads words made from its component and outage (covered below).
USER_FACING_BASES = frozenset(
    {
        "InvalidInput",
        "NotFound",
        "PermissionDenied",
        "Unauthenticated",
        "Conflict",
        "UnprocessableDocument",
        "TooManyRequests",
        "HTTPException",
        "UploadRejected",
        "MultiPartException",
    }
)
CLASS_SOURCES = (*SOURCES, "index", "llm")
# Classes whose message is their second argument (the first is an HTTP status).
MESSAGE_SECOND = frozenset({"HTTPException", "UploadRejected"})
# Functions that hand a message on to a refusal, by file, and which argument it is.
FORWARDERS = {
    "core/db/identity.py": {"flush_or_conflict": 1},
    "core/db/groups.py": {"flush_or_conflict": 1},
    "api/limits.py": {"_answer": 4, "refuse": 1},
    "api/multipart_watch.py": {"_refuse": 1},
    "api/origins.py": {"_refusal": 1},
    "api/routes/openai_compat.py": {"refuse": 2},
    "services/schemas/openai_chat.py": {"Unsupported": 1},
}
# ValueErrors raised inside request validators become 422 ``value_error`` messages.
VALIDATOR_FILES = (
    "services/schemas/bounds.py",
    "services/schemas/admin.py",
    "services/tenant_settings.py",
    "core/origins.py",
)
SAMPLE = "7"
# Sites whose message is made at run time, by "path:function", with where its words come from.
DYNAMIC = {
    "api/routes/documents.py:upload_new_version": "an HTTPException's own detail (Starlette's"
    " words: 'Not Found', …), localized by api.errors like every HTTPException",
    "services/answer_limits.py:AnswerLimiter.acquire": "one of three limit sentences built"
    " just above, in api.reasons",
    "core/db/conflicts.py:flush_or_conflict": "its callers' messages (a forwarder, walked)",
    "api/limits.py:RequestGuard._limit_body.refuse": "its callers' messages (a forwarder)",
    "api/multipart_form.py:UploadRequest._get_form": "a MultiPartException's message: this"
    " module's own (walked) or Starlette's parser's (in api.reasons_refusals)",
    "api/limits.py:RequestGuard._session": "str() of an Unauthenticated raised in core.db",
    "api/limits.py:RequestGuard._authenticate": "str() of an Unauthenticated raised in core.db",
    "api/limits.py:RequestGuard._admit": "key_refusal: api.origins / api.scopes sentences",
    "api/limits.py:_unavailable": "public_detail: the outage sentences",
    "api/limits.py:_within_rate": "public_detail of services.rate_limits' three sentences",
    "api/limits.py:RequestGuard._limit_body": "_too_large(), covered below",
    "api/limits.py:RequestGuard._limit_body.guarded_receive": "_too_large(), _too_slow() and"
    " _refuse's",
    "services/documents.py:DocumentService.check_name": "str() of safe_filename's"
    " InvalidInput, raised in ingest/formats.py (walked)",
    "api/routes/openai_compat.py:chat_completions": "Unsupported's message, made in"
    " services/schemas/openai_chat.py (a forwarder, walked)",
    "services/documents.py:DocumentService.check_file": "str() of detect_type's and"
    " check_archive_safety's errors, raised in ingest/formats.py (walked)",
    "ingest/pdf.py:partition_pdf_pages": "'no text found in the PDF' (+ ', even with OCR'),"
    " both in api.reasons",
    "api/routes/documents.py:_parse_access": "str() of api.json_keys.RepeatedName, covered below",
}


@dataclass(frozen=True)
class Site:
    where: str  # path:line
    function: str
    message: str | None  # None: made at run time


def _python_files(names: tuple[str, ...] = SOURCES + EXTRA_FILES) -> Iterator[Path]:
    for name in names:
        path = ROOT / name
        yield from [path] if path.suffix == ".py" else sorted(path.rglob("*.py"))


def _with_subclasses(bases: frozenset[str]) -> frozenset[str]:
    """``bases`` and every class defined in the code that derives from one of them."""
    derived: list[tuple[str, set[str]]] = []
    for path in _python_files(CLASS_SOURCES):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                names = {
                    b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases
                }
                derived.append((node.name, names))
    found = set(bases)
    while True:
        more = {name for name, parents in derived if parents & found} - found
        if not more:
            return frozenset(found)
        found |= more


def _text(node: ast.expr, constants: dict[str, str]) -> str | None:
    """The message ``node`` builds, placeholders filled with SAMPLE; None when unknowable."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(
            part.value
            if isinstance(part, ast.Constant)
            else (SAMPLE if isinstance(part, ast.FormattedValue) else "")
            for part in node.values
        )
    if isinstance(node, ast.Name):
        return constants.get(node.id)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _text(node.left, constants), _text(node.right, constants)
        return left + right if left is not None and right is not None else None
    return None


def _constants(tree: ast.Module) -> dict[str, str]:
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name):
                text = _text(node.value, found)
                if text is not None:
                    found[target.id] = text
    return found


def _message_arg(call: ast.Call, name: str) -> ast.expr | None:
    for keyword in call.keywords:
        if keyword.arg == "detail":
            return keyword.value
    position = 1 if name in MESSAGE_SECOND else 0
    return call.args[position] if len(call.args) > position else None


def _sites(path: Path, classes: frozenset[str]) -> Iterator[Site]:
    relative = path.relative_to(ROOT).as_posix()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    constants = _constants(tree)

    def walk(node: ast.AST, scope: str) -> Iterator[Site]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                yield from walk(child, f"{scope}.{child.name}" if scope else child.name)
                continue
            if isinstance(child, ast.Call):
                func = child.func
                name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
                position = FORWARDERS.get(relative, {}).get(name)
                if position is not None and len(child.args) > position:
                    message = _text(child.args[position], constants)
                    yield Site(f"{relative}:{child.lineno}", scope, message)
            # Every refusal made, not only those raised where they are made: one built and
            # handed back to be raised later (sign-in's ``_Refusal(Unauthenticated(…))``)
            # reaches a caller all the same.
            if isinstance(child, ast.Call):
                func = child.func
                name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
                if name in classes:
                    arg = _message_arg(child, name)
                    if arg is not None:
                        message = _text(arg, constants)
                        yield Site(f"{relative}:{child.lineno}", scope, message)
            yield from walk(child, scope)

    yield from walk(tree, "")


@functools.cache  # the walk reads a few hundred files: once per run
def _all_sites() -> tuple[Site, ...]:
    classes = _with_subclasses(USER_FACING_BASES)
    sites = [site for path in _python_files() for site in _sites(path, classes)]
    sites += [
        site for name in VALIDATOR_FILES for site in _sites(ROOT / name, frozenset({"ValueError"}))
    ]
    return tuple(sites)


_CJK = re.compile(r"[\u4e00-\u9fff]")
# Four English words in a row in the Chinese: a nested reason left untranslated.
_ENGLISH_RUN = re.compile(r"[A-Za-z]+(?: [A-Za-z]+){3,}")


def _untranslated(messages: list[tuple[str, str]]) -> list[str]:
    found = []
    for where, english in messages:
        chinese = localize(english, CHINESE) or ""
        if not _CJK.search(chinese) or _ENGLISH_RUN.search(chinese):
            found.append(f"{where}: {english!r} -> {chinese!r}")
    return found


def test_the_walk_finds_the_raise_sites() -> None:
    sites = _all_sites()
    # A guard against a walk that silently finds nothing (a moved package, a renamed class).
    assert len([s for s in sites if s.message]) > 100
    assert any(s.message == "the question is empty" for s in sites)


def test_every_literal_refusal_has_a_chinese_rendering() -> None:
    literal = [(s.where, s.message) for s in _all_sites() if s.message is not None]
    assert _untranslated(literal) == []


def test_every_message_made_at_run_time_is_accounted_for() -> None:
    dynamic = {f"{s.where.split(':')[0]}:{s.function}" for s in _all_sites() if s.message is None}
    assert sorted(dynamic - DYNAMIC.keys()) == []


def test_sentences_made_at_run_time_read_in_chinese() -> None:
    """What the DYNAMIC sites say, from the functions and constants that make it."""
    from api import json_keys, limits, scopes
    from api.routes import documents
    from core.db import identity, web_sessions
    from ingest import formats

    sentences = [
        ("api.limits._MISSING_KEY", limits._MISSING_KEY),
        ("api.limits._INVALID_KEY", limits._INVALID_KEY),
        ("api.limits._SESSION_REFUSED", limits._SESSION_REFUSED),
        ("api.limits._CROSS_SITE", limits._CROSS_SITE),
        ("api.limits._BAD_CSRF", limits._BAD_CSRF),
        ("api.limits._too_large", limits._too_large(1_048_576)),
        ("api.limits._too_slow", limits._too_slow(LimitsSettings())),
        ("api.scopes.refusal", scopes.refusal("chat", "POST", "/v1/documents")),
        (
            "api.origins",
            "this API key may not be used from https://crm.example: its owner"
            " bound it to other origins",
        ),
        ("api.routes.documents._ACCESS_SHAPE", documents._ACCESS_SHAPE),
        ("api.json_keys.RepeatedName", str(json_keys.RepeatedName("everyone"))),
        ("core.db.identity._REFUSED", identity._REFUSED),
        ("core.db.web_sessions.SESSION_REFUSED", web_sessions.SESSION_REFUSED),
        ("ingest.formats._CORRUPT_ZIP", formats._CORRUPT_ZIP),
        ("ingest.pdf", "no text found in the PDF, even with OCR"),
        ("starlette", "Not Found"),
        ("starlette", "Method Not Allowed"),
        # services.answer_limits: whichever of its three limits refused.
        (
            "answer_limits",
            "this API key already has 2 answers being generated; wait for one to finish",
        ),
        ("answer_limits", "you already have 2 answers being generated; wait for one to finish"),
        (
            "answer_limits",
            "your organisation already has 8 answers being generated; try again shortly",
        ),
    ]
    assert _untranslated(sentences) == []


def test_every_outage_wording_reads_in_chinese() -> None:
    wordings = [
        (
            f"{component}/{outage}",
            public_detail(UpstreamUnavailable("x", component=component, outage=outage)),
        )
        for component in Component
        for outage in Outage
    ]
    assert _untranslated(wordings) == []


@pytest.mark.parametrize("kind", typing.get_args(core_schema.ErrorType))
def test_every_pydantic_error_type_reads_in_chinese(kind: str) -> None:
    ctx = {
        "max_length": 7,
        "min_length": 1,
        "field_type": "List",
        "actual_length": 9,
        "gt": 0,
        "ge": 0,
        "lt": 9,
        "le": 9,
        "expected": "'a' or 'b'",
        "error": "must not contain control or format characters",
    }
    text = chinese({"type": kind, "ctx": ctx}, lambda s: localize(s, CHINESE) or s)
    assert _CJK.search(text), (kind, text)
    assert "{" not in text


def test_common_pydantic_types_have_their_own_words() -> None:
    # Not the generic fallback: the ones a form or a JSON body produces every day.
    for kind in ("missing", "string_too_long", "too_long", "int_parsing", "literal_error"):
        assert kind in TEMPLATES
    text = chinese({"type": "string_too_long", "ctx": {"max_length": 200}}, lambda s: s)
    assert text == "最多 200 个字符"
    text = chinese({"type": "too_long", "ctx": {"field_type": "List", "max_length": 50}}, str)
    assert text == "列表最多 50 项"
    text = chinese({"type": "literal_error", "ctx": {"expected": "'a', 'b' or 'c'"}}, str)
    assert text == "应为 'a', 'b' 或 'c' 之一"
    assert chinese({"type": "string_too_long"}, str) == "值无效"  # no ctx: no number invented


def _framework_messages() -> list[tuple[str, str]]:
    """The refusals the framework words itself when it cannot read a body, read from its
    source as ours are: Starlette's multipart parser (its ``MultiPartException`` becomes a
    400 with that text) and FastAPI's body reader (an ``HTTPException`` with a detail)."""
    import fastapi.routing
    import starlette.formparsers

    found = []
    for module, classes in (
        (starlette.formparsers, {"MultiPartException"}),
        (fastapi.routing, {"HTTPException"}),
    ):
        path = Path(module.__file__ or "")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            if name not in classes:
                continue
            detail = next((k.value for k in node.keywords if k.arg == "detail"), None)
            arg = detail if name == "HTTPException" else (node.args[0] if node.args else None)
            text = _text(arg, {}) if arg is not None else None
            if text is not None:
                found.append((f"{path.name}:{node.lineno}", text))
    return found


def test_the_frameworks_body_refusals_read_in_chinese() -> None:
    messages = _framework_messages()
    # A guard against a walk that finds nothing (the framework moved its parser).
    assert any("boundary" in text for _, text in messages), messages
    assert any("parsing the body" in text for _, text in messages), messages
    assert _untranslated(messages) == []
    from api.errors import FORM_BODY_EXPECTED, JSON_BODY_EXPECTED, NOT_A_FILE, UNSTORABLE

    ours = [("415 json", JSON_BODY_EXPECTED), ("415 form", FORM_BODY_EXPECTED)]
    ours += [("not a file", NOT_A_FILE), ("unstorable", UNSTORABLE)]
    assert _untranslated(ours) == []


def _contents() -> dict[str, bytes]:
    """Bytes of every kind ``ingest.content_sniffing`` tells apart, to mislabel."""
    import io
    import zipfile

    def zipped(members: dict[str, str]) -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for name, text in members.items():
                archive.writestr(name, text)
        return buffer.getvalue()

    return {
        "pdf": b"%PDF-1.4\n%%EOF\n",
        "png": b"\x89PNG\r\n\x1a\n" + b"\x00" * 64,
        "jpeg": b"\xff\xd8\xff\xe0" + b"\x00" * 64,
        "docx": zipped({"[Content_Types].xml": "<Types/>", "word/document.xml": "<w/>"}),
        "zip": zipped({"a.txt": "a"}),
        "odf": zipped({"content.xml": "<office/>"}),
        "corrupt zip": b"PK\x03\x04" + b"\xff" * 200,
        "corrupt ole": bytes.fromhex("D0CF11E0A1B11AE1") + b"\x00" * 600,
        "text": "纯文本 plain text\n".encode(),
        "binary": bytes(range(256)) * 8,
    }


def test_every_type_refusal_reads_in_chinese() -> None:
    """What ``detect_type`` says for each claimed extension and each real content: its
    sentences are filled with English names of formats (``a PDF``, ``binary data (…)``),
    which the SAMPLE walk above cannot see."""
    from core.errors import ZhikuError
    from ingest import formats

    extensions = [*formats._EXTENSIONS, ".zip", ".exe", ""]
    refusals = []
    for label, data in _contents().items():
        for extension in extensions:
            try:
                formats.detect_type(data, f"file{extension}")
            except ZhikuError as exc:
                refusals.append((f"{label} as {extension or 'no extension'}", str(exc)))
    assert len(refusals) > 100
    assert _untranslated(refusals) == []
    traditional = [localize(message, TRADITIONAL) or "" for _, message in refusals]
    assert all(_CJK.search(text) and not _ENGLISH_RUN.search(text) for text in traditional)
