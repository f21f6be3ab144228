"""The messages of the rate limits, the metrics endpoint and the S3 file store, for a caller
who writes Traditional Chinese: the Simplified words converted to Traditional, as for every
other message of the API (``api.reasons``), the caller's own values (a file name) left as they
were sent, and never the English words. A Simplified caller reads the words unchanged."""

from __future__ import annotations

import pytest
from starlette.requests import HTTPConnection

from api.errors import public_detail
from api.reasons import language_of, localize
from api.web import i18n
from core import blobs_s3, metrics
from core.access import Principal
from core.errors import TooManyRequests
from core.rate_buckets import LocalBuckets
from core.settings_rate_limits import RateLimitSettings, RouteRates
from services.rate_limits import RateLimiter

TRADITIONAL_TAGS = ["zh-TW", "zh-Hant", "zh-Hant-TW,zh;q=0.9,en;q=0.5"]
HONG_KONG_TAGS = ["zh-HK", "zh-MO", "zh-Hant-HK", "zh-Hant-MO,zh;q=0.9,en;q=0.5"]
SIMPLIFIED = [
    "此 API 密钥对 /v1/search 的请求过多：每分钟最多 60 次，请在 1 秒后重试",
    "指标令牌缺失或错误：请发送 'Authorization: Bearer <令牌>'",
    "未设置指标令牌时，指标仅对本机回环地址的客户端开放",
    "存储的文件 t1/d1/original 已丢失",
    "文件存储暂时不可用，请稍后再试。",
]
TRADITIONAL = [
    "此 API 金鑰對 /v1/search 的請求過多：每分鐘最多 60 次，請在 1 秒後重試",
    "指標令牌缺失或錯誤：請傳送 'Authorization: Bearer <令牌>'",
    "未設定指標令牌時，指標僅對本機迴環地址的客戶端開放",
    "儲存的檔案 t1/d1/original 已丟失",
    "檔案儲存暫時不可用，請稍後再試。",
]

# Hong Kong's character forms (客户, not 客戶) and words: 密鑰 and 發送, not Taiwan's 金鑰, 傳送.
HONG_KONG = [
    "此 API 密鑰對 /v1/search 的請求過多：每分鐘最多 60 次，請在 1 秒後重試",
    "指標令牌缺失或錯誤：請發送 'Authorization: Bearer <令牌>'",
    "未設定指標令牌時，指標僅對本機迴環地址的客户端開放",
    "存儲的檔案 t1/d1/original 已丟失",
    "檔案存儲暫時不可用，請稍後再試。",
]


def language(accept_language: str) -> str:
    scope = {"type": "http", "headers": [(b"accept-language", accept_language.encode())]}
    return language_of(HTTPConnection(scope))


def rate_refusal() -> str:
    rates = RouteRates(per_key_per_minute=60, per_tenant_per_minute=600, burst_seconds=1)
    limiter = RateLimiter(RateLimitSettings(search=rates), LocalBuckets())
    caller = Principal(tenant_id="t1", user_id="ann", key_id="k1")
    limiter.check(caller, "search")
    with pytest.raises(TooManyRequests) as refused:
        limiter.check(caller, "search")
    return str(refused.value)


def s3_errors() -> list[str]:
    from botocore.exceptions import ClientError, EndpointConnectionError

    raised = []
    for error in (
        ClientError({"Error": {"Code": "NoSuchKey"}}, "GetObject"),
        EndpointConnectionError(endpoint_url="http://s3.invalid"),
    ):
        try:
            with blobs_s3._translated("t1/d1/original"):
                raise error
        except Exception as exc:
            raised.append(public_detail(exc))  # type: ignore[arg-type]
    return raised


def messages() -> list[str]:
    return [
        rate_refusal(),
        metrics.scrape_refusal("secret", None, "127.0.0.1", proxied=False),
        metrics.scrape_refusal("", None, "203.0.113.9", proxied=False),
        *s3_errors(),
    ]


@pytest.mark.parametrize("tag", TRADITIONAL_TAGS)
def test_traditional_callers_read_these_messages_in_traditional(tag: str) -> None:
    assert language(tag) == i18n.TRADITIONAL
    english = messages()
    chinese = [localize(message, language(tag)) for message in english]
    assert chinese == TRADITIONAL
    for message, words in zip(english, chinese, strict=True):
        assert words != message and any("\u4e00" <= ch <= "\u9fff" for ch in words), message


@pytest.mark.parametrize("tag", HONG_KONG_TAGS)
def test_hong_kong_callers_read_hong_kongs_forms_not_taiwans_words(tag: str) -> None:
    assert language(tag) == i18n.HONG_KONG
    assert [localize(message, language(tag)) for message in messages()] == HONG_KONG


@pytest.mark.parametrize("tag", ["zh-CN", "zh", "zh-Hans-HK", "zh-SG,en;q=0.5"])
def test_simplified_callers_read_them_unchanged(tag: str) -> None:
    assert language(tag) == i18n.CHINESE
    assert [localize(message, language(tag)) for message in messages()] == SIMPLIFIED


def test_the_callers_own_values_are_not_converted() -> None:
    reason = (
        "the file could not be parsed: could not parse 报告.docx as DOCX: the file is damaged"
        " or incomplete (it may have been truncated or corrupted)"
    )
    assert localize(reason, i18n.TRADITIONAL) == (
        "無法解析該檔案：無法將 报告.docx 解析為 DOCX 檔案：檔案已損壞或不完整（可能被截斷或損壞）"
    )
    assert localize("no text found in 说明书.png", i18n.TRADITIONAL) == "说明书.png 中沒有找到文字"
    # A Traditional name stays Traditional for a Simplified caller too.
    assert localize("no text found in 說明書.png", i18n.CHINESE) == "說明書.png 中没有找到文字"
    assert localize("no text found in 说明书.png", i18n.ENGLISH) == "no text found in 说明书.png"


def test_a_component_is_named_in_the_callers_script() -> None:
    outage = "The search index is unavailable right now; try again shortly."
    assert localize(outage, i18n.TRADITIONAL) == "搜尋索引暫時不可用，請稍後再試。"
    assert localize(outage, i18n.CHINESE) == "搜索索引暂时不可用，请稍后再试。"
