"""The server's own words in Chinese: why a file failed or was refused, and why a request was.

Reasons are written in English where they are raised (logs, the library layers, integrators
who do not ask otherwise). A caller whose language is Chinese (``Accept-Language``, or the
portal's remembered choice) gets them in Chinese here, at the edge: each known sentence is a
pattern, its parts (a file name, a number, a nested reason) carried over, a nested reason
translated in turn. A sentence with no pattern stays English rather than being guessed at;
``tests/api/test_reasons_coverage.py`` reads every raise site from the source and fails on
one without a pattern (request refusals live in ``api.reasons_refusals``; 422 field errors
are worded by type in ``api.validation_words``). The patterns are written in Simplified; a
caller whose tag asks for Traditional gets each template converted by OpenCC before its parts
are filled in, so a file name or other value the caller sent is never rewritten: in Taiwan's
words for zh-TW, zh-Hant-TW and zh-Hant, in Hong Kong's for zh-HK, zh-MO and zh-Hant-HK (the
one rule of ``api.web.i18n.supported``, with its ``WORDING``).
"""

from __future__ import annotations

import re
from functools import lru_cache

from starlette.requests import HTTPConnection

from api.reasons_refusals import BINARY_DATA, COMPONENTS, CONTENT_TERMS, REFUSALS
from api.web import i18n
from llm.reply_language import reply_language

# Where ``note_question`` keeps the question's language (the request's state), and the
# reader's language each answer language is.
_QUESTION_LANGUAGE = "zhiku_question_language"
_READER_LANGUAGE = {"en": i18n.ENGLISH, "zh-Hans": i18n.CHINESE, "zh-Hant": i18n.TRADITIONAL}

_ENGLISH_TO_CHINESE: list[tuple[str, str]] = [
    (r"the file could not be parsed: (?P<reason>.+)", "无法解析该文件：{reason}"),
    (
        r"could not parse (?P<name>.+?) as (?P<fmt>[A-Z0-9]+): (?P<reason>.+)",
        "无法将 {name} 解析为 {fmt} 文件：{reason}",
    ),
    (r"the file is empty", "文件是空的"),
    (r"(?P<name>.+) is empty", "{name} 是空文件"),
    (r"no text found in the image, even with OCR", "图片中没有识别出文字（已尝试 OCR）"),
    (r"no text found in the PDF, even with OCR", "PDF 中没有找到文字（已尝试 OCR）"),
    (r"no text found in the PDF", "PDF 中没有找到文字"),
    (r"no text found in (?P<name>.+)", "{name} 中没有找到文字"),
    (r"no text could be extracted from this document", "无法从该文档中提取文字"),
    (
        r"the PDF is password-protected; remove the password",
        "PDF 受密码保护，请去除密码后再上传",
    ),
    (
        r"the Office file is password-protected; remove the password",
        "Office 文件受密码保护，请去除密码后再上传",
    ),
    (
        r"the EPUB book is DRM-protected \(its text is encrypted\); upload a copy without DRM",
        "EPUB 电子书受 DRM 保护（正文已加密），请上传无 DRM 的版本",
    ),
    (r"the PDF has no pages", "PDF 没有页面"),
    (
        r"the spreadsheet has more than (?P<n>[\d,]+) rows \(limit (?P<limit>[\d,]+)\): split it,"
        r" or upload the rows people need to search",
        "表格超过 {n} 行（上限 {limit} 行）：请拆分，或只上传需要检索的行",
    ),
    (
        r"the document has (?P<n>[\d,]+) chunks of text \(limit (?P<limit>[\d,]+)\): split it"
        r" into smaller files",
        "文档切分后有 {n} 个文本块（上限 {limit} 个）：请拆分为较小的文件",
    ),
    (
        r"the PDF has (?P<n>[\d,]+) pages \(limit (?P<limit>[\d,]+)\)",
        "PDF 有 {n} 页（上限 {limit} 页）",
    ),
    (
        r"corrupt PDF: the file is damaged or incomplete \(it may have been truncated\)",
        "PDF 已损坏或不完整（可能被截断）",
    ),
    (
        r"corrupt (?P<fmt>[A-Z]+) file: the file is damaged or incomplete"
        r" \(it may have been truncated\)",
        "{fmt} 文件已损坏或不完整（可能被截断）",
    ),
    (
        r"the file is damaged or incomplete \(it may have been truncated or corrupted\)",
        "文件已损坏或不完整（可能被截断或损坏）",
    ),
    (
        r"the e-mail has no readable body \(it may be encrypted\)",
        "邮件没有可读的正文（可能已加密）",
    ),
    (
        r"unsupported type: the \.zip file is not a readable zip archive \(damaged or"
        r" incomplete\)",
        "不支持的文件类型：该 .zip 文件不是可读的压缩包（已损坏或不完整）",
    ),
    (
        r"unsupported type: (?P<kind>\S+|no extension) \((?P<content>.+)\)",
        "不支持的文件类型：{kind}（{content}）",
    ),
    (r"unsupported type: (?P<what>.+)", "不支持的文件类型：{what}"),
    (
        r"not a text file: (?P<ext>\S+) but the content is (?P<content>.+)",
        "不是文本文件：扩展名为 {ext}，内容却是{content}",
    ),
    (r"(?P<name>.+) is larger than the (?P<n>\d+) byte limit", "{name} 超过 {n} 字节的上限"),
    (r"(?P<name>.+) is not readable text: (?P<why>.+)", "{name} 不是可读的文本：{why}"),
    (
        r"its encoding was not recognised \(save it as UTF-8\)",
        "无法识别其编码（请另存为 UTF-8）",
    ),
    (r"it holds binary data or uses an unknown encoding", "其中含有二进制数据或使用了未知编码"),
    (
        r"(?P<name>.+) is not a readable zip archive \(damaged or incomplete\)",
        "{name} 不是可读的 zip 压缩包（已损坏或不完整）",
    ),
    (
        r"the \.zip file is not a readable zip archive \(damaged or incomplete\)",
        ".zip 文件不是可读的压缩包（已损坏或不完整）",
    ),
    (r"the archive is empty", "压缩包是空的"),
    (
        r"the file is empty \(0 bytes\): nothing to index",
        "该文件是空的（0 字节），没有可索引的内容",
    ),
    (
        r"a new version must be one document, not an archive or a mailbox: upload the files"
        r" inside it as documents of their own",
        "新版本必须是单个文档，不能是压缩包或邮箱文件：请将其中的文件作为独立的文档上传",
    ),
    (
        r"the file is (?:encrypted \(password-protected\)|password-protected) inside the archive",
        "压缩包内的该文件已加密（受密码保护）",
    ),
    (r"the file is damaged inside the archive", "压缩包内的该文件已损坏"),
    (
        r"archives nested more than (?P<n>\d+) deep are not unpacked",
        "嵌套超过 {n} 层的压缩包不会解压",
    ),
    (r".*refused as a possible zip bomb", "解压后过大，疑似压缩炸弹，已拒绝"),
    (r"parsing took longer than the (?P<n>\d+) s limit", "解析时间超过 {n} 秒的上限"),
    (r"parsing ran out of time.*", "解析超时"),
    (
        r"parsing needed more than (?P<n>\d+) MiB \(WorkerSettings\.parse\.max_memory_mib\);"
        r" the file may be a decompression bomb",
        "解析所需内存超过 {n} MiB（WorkerSettings.parse.max_memory_mib），该文件可能是解压炸弹",
    ),
    (
        r"the parser crashed on this file.*",
        "解析程序处理该文件时崩溃（文件可能已损坏，或所需内存超过上限）",
    ),
    (
        r"could not convert (?P<name>.+?): the file is damaged, password-protected or not"
        r" really a (?P<fmt>\S+) file",
        "无法转换 {name}：文件已损坏、受密码保护，或并非真正的 {fmt} 文件",
    ),
    (
        r"converting (?P<name>.+?) with LibreOffice took longer than (?P<n>\d+) s.*",
        "用 LibreOffice 转换 {name} 超过 {n} 秒：文件过于复杂或已损坏",
    ),
    (
        r"converting (?P<name>.+?) with LibreOffice needed more than (?P<n>\d+) MiB of memory"
        r" or crashed",
        "用 LibreOffice 转换 {name} 所需内存超过 {n} MiB 或已崩溃",
    ),
    (
        r"parsing needed more than (?P<n>\d+) MiB \(WorkerSettings\.parse\.max_memory_mib\);"
        r" the file may be a decompression bomb",
        "解析所需内存超过 {n} MiB（WorkerSettings.parse.max_memory_mib）；该文件可能是解压炸弹",
    ),
    (
        r"the document nests its elements more than (?P<n>\d+) levels deep \(HTML tags, or"
        r" Markdown quotes and lists\): the text past that depth cannot be read",
        "文档的元素嵌套超过 {n} 层（HTML 标签，或 Markdown 的引用和列表）："
        "超出该深度的文字无法读取",
    ),
    (r"(?P<name>.+?) is a damaged image: .*", "{name} 是损坏的图片"),
    (r"(?P<name>.+?) is not a readable image: .*", "{name} 不是可读的图片"),
    (
        r".*declares an image too large to read.*",
        "图片尺寸过大，无法读取（请以较低分辨率扫描）",
    ),
    (r"the stored file is missing; upload it again", "存储的文件已丢失，请重新上传"),
    (
        r"processing stopped on an unexpected error; the administrator's log has the details",
        "处理因意外错误而中止；详情见管理员日志",
    ),
    (r"the file has no name", "文件没有名称"),
    (r"at most (?P<n>\d+) files per upload", "每次上传最多 {n} 个文件"),
    (
        r"the access list is empty: name users, groups, or everyone",
        "访问列表为空：请指定用户、群组或所有人",
    ),
    (r"document not found", "找不到该文档"),
    (r"not found", "未找到"),
    (r"invalid or revoked API key", "API 密钥无效或已被吊销"),
    (
        r"missing API key: send 'Authorization: Bearer <key>'",
        "缺少 API 密钥：请发送 'Authorization: Bearer <key>'",
    ),
    (
        r"you already have (?P<n>\d+) answers being generated; wait for one to finish",
        "您已有 {n} 个回答正在生成，请等待其中一个完成",
    ),
    (
        r"this API key already has (?P<n>\d+) answers being generated; wait for one to finish",
        "此 API 密钥已有 {n} 个回答正在生成，请等待其中一个完成",
    ),
    (
        r"your organisation already has (?P<n>\d+) answers being generated; try again shortly",
        "您的组织已有 {n} 个回答正在生成，请稍后再试",
    ),
    (
        r"the answer model is busy: (?P<n>\d+) answers are being generated or waiting for it;"
        r" try again in (?P<s>\d+) s",
        "回答模型正忙：已有 {n} 个回答正在生成或排队等候，请 {s} 秒后再试",
    ),
    (r"the question is empty", "问题为空"),
    (r"the question is longer than (?P<n>\d+) characters", "问题超过 {n} 个字符"),
    *REFUSALS,
]
# Fixed sentences first: "the question is empty" must not read as a file "the question" that
# "is empty". Among patterns with parts, the order above decides.
_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(p, re.S), zh)
    for p, zh in sorted(_ENGLISH_TO_CHINESE, key=lambda entry: "(?P" in entry[0])
]
# Parts that are themselves reasons, translated in turn.
_NESTED = frozenset({"reason", "why"})
# Parts that name a file's content (api.reasons_refusals.CONTENT_TERMS).
_CONTENT_PARTS = frozenset({"kind", "content"})
_BINARY_DATA = re.compile(BINARY_DATA[0])


def _content_term(words: str, language: str) -> str:
    if words in CONTENT_TERMS:
        return in_script(CONTENT_TERMS[words], language)
    binary = _BINARY_DATA.fullmatch(words)
    if binary is not None:
        return in_script(BINARY_DATA[1], language).format(**binary.groupdict())
    return words


def localize(text: str | None, language: str) -> str | None:
    """``text`` in ``language`` when a pattern knows it; otherwise unchanged."""
    if text is None or language not in i18n.CHINESES:
        return text
    return _chinese(text, language, depth=0)


def in_script(words: str, language: str) -> str:
    """Our own Simplified ``words`` (a template, placeholders unfilled) as ``language``
    writes them: converted for Traditional (Taiwan's or Hong Kong's), else as they are."""
    return _converted(words, language) if language in i18n.WORDING else words


@lru_cache(maxsize=2048)
def _converted(words: str, language: str) -> str:
    # Only our own templates come here (a bounded set), never a caller's text; in the
    # reader's words (登入, 檔案), not only their character forms.
    return i18n.WORDING[language](words)


def _chinese(text: str, language: str, depth: int) -> str:
    if depth > 3:
        return text
    for pattern, template in _PATTERNS:
        match = pattern.fullmatch(text.strip())
        if match is None:
            continue
        parts = {
            key: _chinese(value, language, depth + 1) if key in _NESTED else value
            for key, value in match.groupdict().items()
        }
        if parts.get("component") in COMPONENTS:
            parts["component"] = in_script(COMPONENTS[parts["component"]], language)
        for key in _CONTENT_PARTS & parts.keys():
            parts[key] = _content_term(parts[key], language)
        return in_script(template, language).format(**parts)
    return text


def language_of(connection: HTTPConnection) -> str:
    """The caller's language: the portal's remembered choice, else ``Accept-Language``, else
    the language of the question the request asks (``note_question``), else English
    (``i18n.CHINESE``, ``i18n.TRADITIONAL`` or ``i18n.ENGLISH``)."""
    cookie = connection.cookies.get(i18n.LANGUAGE_COOKIE)
    header = connection.headers.get("accept-language")
    if cookie not in i18n.LANGUAGES and i18n.from_accept_language(header) is None:
        asked = connection.scope.get("state", {}).get(_QUESTION_LANGUAGE)
        if asked in i18n.LANGUAGES:
            return str(asked)
    return i18n.pick(None, cookie, header)


def note_question(connection: HTTPConnection, question: str) -> None:
    """Remember the language ``question`` is written in: a caller who did not say theirs (an
    API client, a script) asking in Chinese is refused in Chinese, in the question's script,
    as its answer would be written (``llm.reply_language``)."""
    setattr(connection.state, _QUESTION_LANGUAGE, _READER_LANGUAGE[reply_language(question)])
