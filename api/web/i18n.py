"""The portal's words in Chinese and English, and which language a request gets.

One catalogue for every page: a key missing from one language is a test failure
(``tests/web/test_i18n.py``), never an English word in a Chinese page.
"""

from __future__ import annotations

import re
from typing import Any

ENGLISH = "en"
CHINESE = "zh-CN"
LANGUAGES = (CHINESE, ENGLISH)
LANGUAGE_COOKIE = "zhiku_lang"
# Names shown in the switch, each in its own language.
LANGUAGE_NAMES = {CHINESE: "中文", ENGLISH: "English"}

CATALOGUE: dict[str, dict[str, str]] = {
    ENGLISH: {
        "app_name": "Zhiku",
        "sign_in_title": "Sign in",
        "sign_in_intro": "Sign in to your organisation's knowledge base.",
        "organisation": "Organisation",
        "organisation_hint": "Leave as it is unless your administrator gave you another.",
        "username": "Username",
        "password": "Password",
        "sign_in": "Sign in",
        "refused": "Wrong organisation, username or password.",
        "locked": "Too many failed sign-ins. Try again in {minutes} minutes.",
        "form_expired": "This form had expired. Please sign in again.",
        "signed_out": "You have signed out.",
        "signed_in_as": "Signed in as {name}",
        "roles": "Roles",
        "role_admin": "administrator",
        "role_auditor": "auditor",
        "role_member": "member",
        "portal_coming": "The portal's pages will appear here.",
        "sign_out": "Sign out",
        "language": "Language",
    },
    CHINESE: {
        "app_name": "知库",
        "sign_in_title": "登录",
        "sign_in_intro": "登录您所在组织的知识库。",
        "organisation": "组织",
        "organisation_hint": "除非管理员另有告知，请保持不变。",
        "username": "用户名",
        "password": "密码",
        "sign_in": "登录",
        "refused": "组织、用户名或密码错误。",
        "locked": "登录失败次数过多，请 {minutes} 分钟后再试。",
        "form_expired": "表单已过期，请重新登录。",
        "signed_out": "您已退出登录。",
        "signed_in_as": "当前用户：{name}",
        "roles": "角色",
        "role_admin": "管理员",
        "role_auditor": "审计员",
        "role_member": "成员",
        "portal_coming": "门户的各个页面将显示在这里。",
        "sign_out": "退出登录",
        "language": "语言",
    },
}

_RANGE = re.compile(
    r"^\s*([A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*|\*)\s*(?:;\s*q\s*=\s*([0-9.]{1,5}))?"
)


def text(language: str, key: str, **values: Any) -> str:
    words = CATALOGUE.get(language, CATALOGUE[ENGLISH])[key]
    return words.format(**values) if values else words


def supported(code: str | None) -> str | None:
    """The language we have for a tag: any Chinese is zh-CN, any English is en."""
    if not code:
        return None
    primary = code.strip().lower().split("-")[0]
    return CHINESE if primary == "zh" else ENGLISH if primary == "en" else None


def from_accept_language(header: str | None) -> str | None:
    """The first language of ``Accept-Language``, by quality, that we have."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate((header or "")[:1000].split(",")[:50]):
        match = _RANGE.match(part)
        if match is None:
            continue
        try:
            quality = float(match.group(2)) if match.group(2) else 1.0
        except ValueError:
            continue
        language = supported(match.group(1))
        if language is not None and quality > 0:
            ranked.append((-quality, position, language))
    return min(ranked)[2] if ranked else None


def pick(query: str | None, cookie: str | None, accept_language: str | None) -> str:
    """The switch (``?lang=``) first, then the remembered choice, then the browser's."""
    for choice in (query, cookie):
        if choice in LANGUAGES:
            return choice
    return from_accept_language(accept_language) or ENGLISH
