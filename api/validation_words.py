"""Request validation errors (FastAPI/pydantic 422) in Chinese, by error type and context.

Pydantic words each error from its ``type`` and ``ctx`` (``string_too_long`` with
``max_length``); we do the same in Chinese, so every field error a client can cause reads in
the caller's language without a pattern per sentence. Context values are shown only where they
are our own limits (lengths, bounds, allowed values), never what the client sent. A type that a
later pydantic adds still gets a Chinese sentence (``_FALLBACK``) rather than English.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

_MAX_CTX_CHARS = 120

# What ``too_short``/``too_long`` call the container (pydantic's ``field_type``).
_CONTAINERS = {
    "List": "列表",
    "Tuple": "元组",
    "Set": "集合",
    "Frozenset": "集合",
    "Dictionary": "字典",
    "Data": "数据",
    "Value": "值",
}

_DATE_WORDS = "日期（如 2026-01-31）"
_DATETIME_WORDS = "带时区的日期时间（如 2026-01-31T00:00:00Z）"

TEMPLATES: dict[str, str] = {
    # The request's shape
    "missing": "缺少必填字段",
    "extra_forbidden": "不允许额外的字段",
    "json_invalid": "请求体不是有效的 JSON",
    "json_type": "应为 JSON 字符串、字节或字节数组",
    "model_type": "应为对象（键值对）",
    "model_attributes_type": "应为对象（键值对）",
    "dataclass_type": "应为对象（键值对）",
    "dataclass_exact_type": "应为对象（键值对）",
    "dict_type": "应为对象（键值对）",
    "mapping_type": "应为对象（键值对）",
    "invalid_key": "键应为字符串",
    "no_such_attribute": "对象没有此属性",
    "get_attribute_error": "读取属性时出错",
    "frozen_field": "该字段不可修改",
    "frozen_instance": "该对象不可修改",
    "needs_python_object": "此处无法从 JSON 读取该值",
    "recursion_loop": "输入嵌套过深或含有循环引用",
    "default_factory_not_called": "无法计算该字段的默认值",
    "missing_sentinel_error": "该字段不应出现",
    "none_required": "应为空值（null）",
    "is_instance_of": "值的类型不正确",
    "is_subclass_of": "值的类型不正确",
    "callable_type": "应为可调用对象",
    "arguments_type": "参数格式不正确",
    "missing_argument": "缺少必填参数",
    "unexpected_keyword_argument": "不接受此参数",
    "missing_keyword_only_argument": "缺少必填参数",
    "unexpected_positional_argument": "不接受此参数",
    "missing_positional_only_argument": "缺少必填参数",
    "multiple_argument_values": "同一参数给出了多个值",
    "union_tag_invalid": "类型标记 {tag} 无效，应为 {expected_tags} 之一",
    "union_tag_not_found": "无法从字段 {discriminator} 判断类型",
    # Numbers
    "greater_than": "应大于 {gt}",
    "greater_than_equal": "应大于或等于 {ge}",
    "less_than": "应小于 {lt}",
    "less_than_equal": "应小于或等于 {le}",
    "multiple_of": "应为 {multiple_of} 的倍数",
    "finite_number": "应为有限的数字",
    "int_type": "应为整数",
    "int_parsing": "应为整数，无法将该字符串解析为整数",
    "int_parsing_size": "整数过大或过小，无法处理",
    "int_from_float": "应为整数，不能带小数部分",
    "float_type": "应为数字",
    "float_parsing": "应为数字，无法将该字符串解析为数字",
    "decimal_type": "应为十进制数",
    "decimal_parsing": "应为十进制数，无法解析",
    "decimal_max_digits": "总位数不能超过 {max_digits} 位",
    "decimal_max_places": "小数位不能超过 {decimal_places} 位",
    "decimal_whole_digits": "整数部分不能超过 {whole_digits} 位",
    "complex_type": "应为复数",
    "complex_str_parsing": "应为复数，无法解析",
    "bool_type": "应为布尔值（true 或 false）",
    "bool_parsing": "应为布尔值（true 或 false），无法解析该字符串",
    # Text and bytes
    "string_type": "应为字符串",
    "string_sub_type": "应为字符串",
    "string_unicode": "应为有效的 Unicode 字符串",
    "string_too_short": "至少需要 {min_length} 个字符",
    "string_too_long": "最多 {max_length} 个字符",
    "string_pattern_mismatch": "格式不正确（应符合 {pattern}）",
    "string_not_ascii": "只能包含 ASCII 字符",
    "bytes_type": "应为字节",
    "bytes_too_short": "至少需要 {min_length} 个字节",
    "bytes_too_long": "最多 {max_length} 个字节",
    "bytes_invalid_encoding": "字节不是有效的 {encoding} 编码",
    "url_type": "应为网址",
    "url_parsing": "不是有效的网址",
    "url_syntax_violation": "网址的格式不正确",
    "url_too_long": "网址最多 {max_length} 个字符",
    "url_scheme": "网址应以 {expected_schemes} 开头",
    "uuid_type": "应为 UUID",
    "uuid_parsing": "不是有效的 UUID",
    "uuid_version": "应为第 {expected_version} 版 UUID",
    # Choices
    "literal_error": "应为 {expected} 之一",
    "enum": "应为 {expected} 之一",
    # Collections
    "list_type": "应为列表",
    "tuple_type": "应为列表",
    "set_type": "应为列表（集合）",
    "frozen_set_type": "应为列表（集合）",
    "set_item_not_hashable": "集合中的元素不可哈希",
    "iterable_type": "应为可迭代的值",
    "iteration_error": "遍历该值时出错",
    "too_short": "{container}至少需要 {min_length} 项",
    "too_long": "{container}最多 {max_length} 项",
    # Dates and times
    "date_type": "应为" + _DATE_WORDS,
    "date_parsing": "应为" + _DATE_WORDS + "，无法解析",
    "date_from_datetime_parsing": "应为" + _DATE_WORDS + "，无法解析",
    "date_from_datetime_inexact": "应为日期，不应带有非零的时间部分",
    "date_past": "应为过去的日期",
    "date_future": "应为将来的日期",
    "time_type": "应为时间（如 08:30:00）",
    "time_parsing": "应为时间（如 08:30:00），无法解析",
    "datetime_type": "应为" + _DATETIME_WORDS,
    "datetime_parsing": "应为" + _DATETIME_WORDS + "，无法解析",
    "datetime_object_invalid": "日期时间无效",
    "datetime_from_date_parsing": "应为" + _DATETIME_WORDS + "，无法解析",
    "datetime_past": "应为过去的时间",
    "datetime_future": "应为将来的时间",
    "timezone_naive": "不应带有时区",
    "timezone_aware": "需要带有时区，如 2026-01-31T00:00:00Z",
    "timezone_offset": "时区偏移应为 {tz_expected}",
    "time_delta_type": "应为时长",
    "time_delta_parsing": "应为时长，无法解析",
}
_FALLBACK = "输入无效（{type}）"
_INVALID_VALUE = "值无效"


def chinese(
    error: Mapping[str, Any],
    localize_reason: Callable[[str], str],
    script: Callable[[str], str] = str,
) -> str:
    """One pydantic error in Chinese. ``value_error``/``assertion_error`` carry our own
    validators' sentences: those go through ``localize_reason`` (the patterns in
    ``api.reasons``). ``script`` writes our own (Simplified) words in the caller's script,
    templates before they are filled in (``api.reasons.in_script``)."""
    kind = str(error.get("type", ""))
    ctx = error.get("ctx") or {}
    if kind in ("value_error", "assertion_error"):
        reason = ctx.get("error")
        text = str(reason) if reason is not None else ""
        return localize_reason(text) if text else script(_INVALID_VALUE)
    template = script(TEMPLATES.get(kind, _FALLBACK))
    values = {key: _shown(value) for key, value in ctx.items()}
    values["type"] = kind[:_MAX_CTX_CHARS]
    values["container"] = script(_CONTAINERS.get(str(ctx.get("field_type", "")), ""))
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError):
        return script(_INVALID_VALUE)  # a context pydantic did not give: no number is invented


def _shown(value: object) -> str:
    # Pydantic lists choices as "'a', 'b' or 'c'": the joining word in Chinese too.
    text = str(value).replace("' or '", "' 或 '")
    return text if len(text) <= _MAX_CTX_CHARS else text[:_MAX_CTX_CHARS] + "…"
