"""Words of the embeddable chat widget (``/widget.js`` carries both languages inside it, and
``/widget/frame`` renders one)."""

ENGLISH: dict[str, str] = {
    "widget_open": "Ask the knowledge base",
    "widget_title": "Ask Zhiku",
    "widget_close": "Close",
    "widget_question": "Your question",
    "widget_placeholder": "Ask a question about our documents…",
    "widget_ask": "Ask",
    "widget_stop": "Stop",
    "widget_you": "You",
    "widget_assistant": "Assistant",
    "widget_thinking": "Searching the documents…",
    "widget_sources": "Sources",
    "widget_page": "p. {page}",
    "widget_no_context": "No readable document answers this.",
    "widget_stopped": "Stopped.",
    "widget_note": (
        "Answers come from the organisation's documents and may be wrong: check the sources."
    ),
    "widget_refused_origin": "This site may not use this assistant: ask its owner to allow it.",
    "widget_refused": "This assistant may not do that with its key.",
    "widget_bad_key": (
        "This assistant's key is not valid any more: ask the site's owner for a new one."
    ),
    "widget_busy": "Too many questions at once: try again in a moment.",
    "widget_unavailable": "The assistant is unavailable right now: try again later.",
    "widget_unreachable": "Could not reach the assistant.",
    "widget_failed": "The answer failed.",
    "widget_frame_title": "Zhiku assistant",
    "widget_frame_waiting": "Waiting for the page that embeds this assistant…",
    "widget_frame_alone": "This assistant is meant to be embedded in another page.",
}

CHINESE: dict[str, str] = {
    "widget_open": "向知识库提问",
    "widget_title": "向知库提问",
    "widget_close": "关闭",
    "widget_question": "你的问题",
    "widget_placeholder": "就我们的文档提一个问题…",
    "widget_ask": "提问",
    "widget_stop": "停止",
    "widget_you": "你",
    "widget_assistant": "助手",
    "widget_thinking": "正在检索文档…",
    "widget_sources": "来源",
    "widget_page": "第 {page} 页",
    "widget_no_context": "没有可读的文档能回答这个问题。",
    "widget_stopped": "已停止。",
    "widget_note": "回答来自本组织的文档，可能有误：请核对来源。",
    "widget_refused_origin": "本网站无权使用此助手：请联系其所有者授权。",
    "widget_refused": "此助手的密钥不允许这样做。",
    "widget_bad_key": "此助手的密钥已失效：请联系网站所有者更换。",
    "widget_busy": "同时提问的人太多：请稍后再试。",
    "widget_unavailable": "助手暂时不可用：请稍后再试。",
    "widget_unreachable": "无法连接到助手。",
    "widget_failed": "回答失败。",
    "widget_frame_title": "知库助手",
    "widget_frame_waiting": "正在等待嵌入此助手的页面…",
    "widget_frame_alone": "此助手需要嵌入到其他页面中使用。",
}
