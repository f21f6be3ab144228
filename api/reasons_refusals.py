"""Why a request was refused, in Chinese: sign-in and keys, permissions, the admin console,
limits, filters (an upload's files before parsing: ``api.reasons_files``). Used by
``api.reasons`` (which holds the mechanism and why a file failed to parse); each entry is an
English pattern and its Chinese template, parts carried over by name (``reason``/``why``
translated in turn).

``tests/api/test_reasons_coverage.py`` reads every raise site from the source and fails when
one has no entry here or in ``api.reasons``.
"""

from __future__ import annotations

from api.reasons_files import BINARY_DATA, CONTENT_TERMS, FILE_REFUSALS
from api.reasons_files import NUMBER as _NUMBER

__all__ = ["BINARY_DATA", "COMPONENTS", "CONTENT_TERMS", "REFUSALS"]

REFUSALS: list[tuple[str, str]] = [
    # Signing in, sessions, keys
    (r"wrong organisation, username or password", "组织、用户名或密码错误"),
    (r"too many failed sign-ins: try again later", "登录失败次数过多，请稍后再试"),
    (r"the current password is wrong", "当前密码错误"),
    (r"invalid or expired session: sign in again", "会话无效或已过期，请重新登录"),
    (
        r"cross-site request refused: its Origin is not this server",
        "已拒绝跨站请求：其来源（Origin）不是本服务器",
    ),
    (
        r"missing or wrong CSRF token: send the session's token in X-CSRF-Token",
        "CSRF 令牌缺失或错误：请在 X-CSRF-Token 中发送会话的令牌",
    ),
    (r"authentication is unavailable, try again", "身份验证暂时不可用，请重试"),
    (
        r"request bodies are read as sent: send it uncompressed, without Content-Encoding",
        "请求体按原样读取：请以未压缩的形式发送，不要带 Content-Encoding",
    ),
    (
        r"cross-origin requests are not accepted on this route",
        "此接口不接受跨域请求",
    ),
    # /metrics (api.observability, core.metrics.scrape_refusal)
    (
        r"missing or wrong metrics token: send 'Authorization: Bearer <token>'",
        "指标令牌缺失或错误：请发送 'Authorization: Bearer <令牌>'",
    ),
    (
        r"metrics are served to loopback clients only unless a metrics token is set",
        "未设置指标令牌时，指标仅对本机回环地址的客户端开放",
    ),
    (
        r"this request carries an API key, not a browser session",
        "此请求携带的是 API 密钥，而不是浏览器会话",
    ),
    (
        r"this account has no password yet: an admin sets the first one",
        "此账户还没有密码：首个密码由管理员设置",
    ),
    (r"a password needs at least (?P<n>\d+) characters", "密码至少需要 {n} 个字符"),
    (r"a password has at most (?P<n>\d+) characters", "密码最多 {n} 个字符"),
    (r"a password must not be the username", "密码不能与用户名相同"),
    (r"a password (?P<reason>.+)", "密码{reason}"),
    (r"no such API key", "找不到该 API 密钥"),
    (
        r"a user may hold at most (?P<n>\d+) active keys: revoke one first",
        "每个用户最多持有 {n} 个有效密钥：请先吊销一个",
    ),
    (r"a revoked key cannot be rotated: create a new one", "已吊销的密钥无法轮换：请新建一个"),
    (
        r"a '?(?P<have>[\w-]+)'? key cannot issue a '?(?P<want>[\w-]+)'? key:"
        r" use a full key or sign in",
        "{have} 范围的密钥不能签发 {want} 范围的密钥：请使用完整权限的密钥或登录",
    ),
    (
        r"this API key's scope is '?(?P<scope>[\w-]+)'?: it may not call (?P<call>.+?)"
        r" \(use a full key, or sign in\)",
        "此 API 密钥的范围是 {scope}：不能调用 {call}（请使用完整权限的密钥或登录）",
    ),
    (
        r"this API key may not be used from (?P<origin>.+): its owner bound it to other origins",
        "此 API 密钥不能从 {origin} 使用：其所有者已将它限定于其他来源",
    ),
    (
        r"cross-origin requests are not accepted on this route",
        "此接口不接受跨域请求",
    ),
    # Permissions and the admin console
    (r"only a tenant admin may do this", "只有租户管理员可以执行此操作"),
    (
        r"an admin reads a document's text only where its access list names them: add yourself"
        r" to the list \(recorded\) to read it",
        "管理员只能阅读访问列表中包含自己的文档正文：如需阅读，请将自己加入该列表（会被记录）",
    ),
    (
        r"only a tenant's admins and auditors read its audit trail",
        "只有租户的管理员和审计员可以查看审计记录",
    ),
    (
        r"only the document's owner or a tenant admin may change it",
        "只有文档的所有者或租户管理员可以修改它",
    ),
    (
        r"keys of admins and auditors are made by their owners \(/v1/me/keys\) or by the"
        r" operator \(zhiku admin create-key\)",
        "管理员和审计员的密钥由其本人（/v1/me/keys）或运维人员（zhiku admin create-key）创建",
    ),
    (
        r"passwords of admins and auditors are changed by their owners \(/v1/me/password\)"
        r" or by the operator \(zhiku admin set-password\)",
        "管理员和审计员的密码由其本人（/v1/me/password）或运维人员（zhiku admin set-password）修改",
    ),
    (r"an admin cannot disable themselves", "管理员不能停用自己"),
    (
        r"the auditor role is granted by the operator: zhiku admin set-roles",
        "审计员角色由运维人员授予：zhiku admin set-roles",
    ),
    (r"an admin cannot drop their own admin role", "管理员不能取消自己的管理员角色"),
    (
        r"another user of this tenant has this e-mail address",
        "本租户的另一位用户已使用此电子邮件地址",
    ),
    (r"tenant (?P<name>.+) already exists", "租户 {name} 已存在"),
    (r"user (?P<name>.+) already exists in this tenant", "本租户已有名为 {name} 的用户"),
    (r"group (?P<name>.+) already exists in this tenant", "本租户已有名为 {name} 的群组"),
    (r"a user can only join groups of their own tenant", "用户只能加入本租户的群组"),
    (
        r"the group is named in the access lists of (?P<n>\d+) documents: remove it there first",
        "有 {n} 个文档的访问列表中包含该群组：请先从中移除",
    ),
    (r"unknown users in access list: (?P<ids>.+)", "访问列表中有未知用户：{ids}"),
    (r"unknown groups in access list: (?P<ids>.+)", "访问列表中有未知群组：{ids}"),
    # The OpenAI-compatible route's own refusals (api.routes.openai_compat,
    # services.schemas.openai_chat.Unsupported)
    (
        r"the model (?P<model>.+) does not exist; use (?P<ours>.+)",
        "模型 {model} 不存在；请使用 {ours}",
    ),
    (r"the last message must be the user's question", "最后一条消息必须是用户的问题"),
    (r"tools are not supported: Zhiku answers from documents", "不支持 tools：知库只根据文档回答"),
    (r"functions are not supported", "不支持 functions"),
    (r"(?P<param>\w+) is not supported \(only 'none'\)", "不支持 {param}（只能为 'none'）"),
    (r"only one choice per request is supported \(n=1\)", "每个请求只支持一个回答（n=1）"),
    (r"response_format (?P<kind>.+) is not supported", "不支持 response_format {kind}"),
    (r"log probabilities are not supported", "不支持对数概率（logprobs）"),
    (r"only text output is supported", "只支持文本输出"),
    (
        r"content parts of type (?P<kind>.+) are not supported: text only",
        "不支持类型为 {kind} 的内容部分：只支持文本",
    ),
    (
        rf"the system messages hold (?P<n>{_NUMBER}) characters \(limit (?P<limit>{_NUMBER})\)",
        "系统消息共有 {n} 个字符（上限 {limit}）",
    ),
    # Things not found
    (r"no such document", "找不到该文档"),
    (r"passage not found", "找不到该段落"),
    (r"this version's original file is no longer kept", "该版本的原始文件已不再保留"),
    (r"conversation not found", "找不到该对话"),
    (r"answer not found", "找不到该回答"),
    (
        r"feedback is for answers: this record is a (?P<kind>.+), not an answer",
        "只能对回答给出反馈：此记录是一次 {kind}，不是回答",
    ),
    (r"user not found", "找不到该用户"),
    (r"group not found", "找不到该群组"),
    (r"tenant not found", "找不到该租户"),
    (r"no tenant named (?P<name>.+)", "没有名为 {name} 的租户"),
    (r"no user named (?P<name>.+)", "没有名为 {name} 的用户"),
    (r"no group named (?P<name>.+)", "没有名为 {name} 的群组"),
    (r"blob (?P<key>.+) is missing", "存储的文件 {key} 已丢失"),
    (r"not found in the search index", "在搜索索引中未找到"),
    (r"collection (?P<name>.+) does not exist yet", "搜索索引 {name} 尚未建立"),
    (r"Not Found", "未找到"),
    (r"Method Not Allowed", "不支持此请求方法"),
    # The framework's own refusals of a body it could not read (Starlette's multipart parser,
    # FastAPI's body reader): tests/api/test_reasons_coverage.py reads them from their source.
    (r"Missing boundary in multipart\.", "multipart 请求缺少 boundary（分隔符）"),
    (r"Invalid multipart data\.", "multipart 数据无效或不完整"),
    (
        r'The Content-Disposition header field "name" must be provided\.',
        '每个部分的 Content-Disposition 头都必须带 "name" 字段',
    ),
    (
        r"Too many fields\. Maximum number of fields is (?P<n>\d+)\.",
        "表单字段过多：最多 {n} 个",
    ),
    (
        r"Too many files\. Maximum number of files is (?P<n>\d+)\.",
        "文件过多：最多 {n} 个",
    ),
    (
        r"(?:Field|Part) exceeded maximum size of (?P<n>\d+)KB\.",
        "表单某部分超过 {n} KB 的上限",
    ),
    (r"There was an error parsing the body", "无法解析请求体"),
    (
        r"the body is not UTF-8 text: send JSON encoded as UTF-8",
        "请求体不是 UTF-8 文本：请以 UTF-8 编码发送 JSON",
    ),
    (r"the JSON body is nested too deeply", "JSON 请求体嵌套过深"),
    (r"a number in the JSON body has too many digits", "JSON 请求体中的数字位数过多"),
    (
        r"must be a file: send it as a part with a filename",
        "应为文件：请作为带文件名的一部分发送",
    ),
    *FILE_REFUSALS,
    # The search index and re-indexing
    (
        r"the index was built by (?P<built>.+), and the model configured now is (?P<now>.+):"
        r" run `(?P<command>.+)` to re-embed it, or configure the model that built it",
        "索引由 {built} 建立，而当前配置的模型是 {now}：请运行 `{command}` 重新嵌入，"
        "或改回建立索引时的模型",
    ),
    (
        r"a re-index is already running: follow it with its status",
        "重新索引已在进行中：请通过其状态跟进",
    ),
    (
        r"collection (?P<name>.+) holds (?P<n>\d+)-d vectors, the embedding model makes"
        r" (?P<m>\d+)-d ones",
        "搜索索引 {name} 中的向量为 {n} 维，而嵌入模型生成的是 {m} 维",
    ),
    (
        r"collection (?P<name>.+) lacks the (?P<names>.+) named vectors",
        "搜索索引 {name} 缺少命名向量 {names}",
    ),
    (r"collection (?P<name>.+): sparse vectors lack IDF", "搜索索引 {name}：稀疏向量缺少 IDF"),
    # Request rates (services.rate_limits)
    (
        r"too many requests to (?P<route>\S+) from this API key: at most (?P<n>\d+) a minute;"
        r" try again in (?P<s>\d+) s",
        "此 API 密钥对 {route} 的请求过多：每分钟最多 {n} 次，请在 {s} 秒后重试",
    ),
    (
        r"too many requests to (?P<route>\S+) from your account: at most (?P<n>\d+) a minute;"
        r" try again in (?P<s>\d+) s",
        "您的账户对 {route} 的请求过多：每分钟最多 {n} 次，请在 {s} 秒后重试",
    ),
    (
        r"too many requests to (?P<route>\S+) from your organisation: at most (?P<n>\d+)"
        r" a minute; try again in (?P<s>\d+) s",
        "您的组织对 {route} 的请求过多：每分钟最多 {n} 次，请在 {s} 秒后重试",
    ),
    # Questions, searches and filters
    (
        r"the conversation has (?P<n>\d+) earlier messages \(limit (?P<limit>\d+)\):"
        r" send only the recent ones",
        "对话中有 {n} 条之前的消息（上限 {limit}）：请只发送最近的消息",
    ),
    (
        rf"the earlier messages hold (?P<n>{_NUMBER}) characters \(limit (?P<limit>{_NUMBER})\):"
        r" send only the recent ones",
        "之前的消息共 {n} 个字符（上限 {limit}）：请只发送最近的消息",
    ),
    (r"the query is empty", "查询为空"),
    (r"the query is longer than (?P<n>\d+) chars", "查询超过 {n} 个字符"),
    (r"limit must be between 1 and (?P<n>\d+)", "limit 须在 1 到 {n} 之间"),
    (r"at most (?P<n>\d+) values in (?P<field>.+)", "{field} 中最多 {n} 个值"),
    (
        r"unknown file type (?P<type>.+); use a MIME type or one of: (?P<known>.+)",
        "未知的文件类型 {type}；请使用 MIME 类型或以下之一：{known}",
    ),
    (
        r"dates need a time zone, e\.g\. 2026-01-31T00:00:00Z",
        "日期需要带时区，例如 2026-01-31T00:00:00Z",
    ),
    (r"the search index refused the request", "搜索索引拒绝了该请求"),
    # Request validators (a field's value_error)
    (
        r"must not contain NUL, control characters or lone surrogates",
        "不能包含 NUL、控制字符或孤立的代理字符",
    ),
    (r"must not contain control or format characters", "不能包含控制字符或格式字符"),
    (
        r"the time falls outside the years 1 to 9999 in UTC",
        "该时间换算为 UTC 后超出 1 至 9999 年的范围",
    ),
    (r"an origin is at most (?P<n>\d+) characters", "来源最多 {n} 个字符"),
    (
        r"an origin is ASCII without spaces \(write a Unicode host as xn--…\)",
        "来源须为不含空格的 ASCII（Unicode 主机名请写成 xn--… 形式）",
    ),
    (r"an origin is http:// or https://", "来源须以 http:// 或 https:// 开头"),
    (
        r"an origin has no path, query or fragment: scheme://host\[:port\]",
        "来源不能带路径、查询或片段：scheme://host[:port]",
    ),
    (r"an origin has no user name or password", "来源不能包含用户名或密码"),
    (r"an origin's port is a number from 1 to 65535", "来源的端口须为 1 到 65535 之间的数字"),
    (r"an origin needs a host name or an IP address", "来源需要主机名或 IP 地址"),
    # 503s, worded from the component and the outage (api.errors)
    (
        r"(?P<component>.+) is unavailable right now; try again shortly\.",
        "{component}暂时不可用，请稍后再试。",
    ),
    (
        r"(?P<component>.+) is still starting; try again in a minute\.",
        "{component}仍在启动，请一分钟后再试。",
    ),
    (
        r"(?P<component>.+) is not set up on this server; ask an administrator\.",
        "此服务器未配置{component}，请联系管理员。",
    ),
    (
        r"The job queue is unavailable right now, so processing has not started\..*",
        "任务队列暂时不可用，处理尚未开始。上传的文件已保存，队列恢复后会自动处理"
        "（其文档显示为排队中）；请勿重复上传。",
    ),
]

# The components a 503 names (core.errors.Component.words), for the outage sentences.
COMPONENTS = {
    "The answer model": "回答模型",
    "The embedding model": "嵌入模型",
    "The search index": "搜索索引",
    "Search": "搜索",
    "The job queue": "任务队列",
    "The database": "数据库",
    "The file store": "文件存储",
    "A service this request needs": "此请求所需的服务",
}
