/*
 * Zhiku's chat widget: a chat bubble on any page, answering from the organisation's documents.
 *
 *   <script src="https://zhiku.example/widget.js" data-key="zk_…" data-lang="zh-CN" async></script>
 *
 * One self-contained script (it runs on other sites' pages): no imports, no globals but
 * window.ZhikuWidget. Everything it draws lives in a Shadow DOM, so the page's style cannot
 * break it and its own cannot leak out. Model and document text is only ever set as text
 * (textContent), never as HTML. The key should be a chat-only key bound to the page's
 * origins: anyone can read it in the page (docs/widget.md).
 *
 * The server writes the words (every language) and the style sheet into the two slots below.
 */
(function () {
  "use strict";

  const WORDS = /*ZHIKU_WORDS*/null;
  const CSS = /*ZHIKU_CSS*/"";
  const MAX_QUESTION_CHARS = 4000;
  const KEY_SHAPE = /^[\x21-\x7e]{1,256}$/;
  const EMBEDDER_HEADER = "X-Zhiku-Embedder-Origin";
  const TRADITIONAL = new Set(["hant", "tw"]);
  const HONG_KONG = new Set(["hk", "mo"]);

  const script = document.currentScript;
  if (!script || !WORDS) return;
  const BASE = new URL(script.src, window.location.href).origin;

  function languageOf(tag) {
    const [primary, ...subtags] = String(tag || "").trim().toLowerCase().split("-");
    // The rule of api/web/i18n.py's supported(): Hong Kong's and Macau's regions read Hong
    // Kong's words, Taiwan's or the Traditional script alone Taiwan's.
    if (primary === "zh" && subtags.includes("hans")) return "zh-CN";
    if (primary === "zh" && subtags.some((s) => HONG_KONG.has(s))) return "zh-HK";
    if (primary === "zh") return subtags.some((s) => TRADITIONAL.has(s)) ? "zh-Hant" : "zh-CN";
    if (primary === "en") return "en";
    return null;
  }

  function wordsFor(lang) {
    const table = WORDS[lang] || WORDS.en;
    return (key, values) => {
      let text = table[key] || WORDS.en[key] || key;
      for (const [name, value] of Object.entries(values || {})) {
        text = text.split(`{${name}}`).join(String(value));
      }
      return text;
    };
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  const ICON_PATH =
    "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2zm3 5v2h10V9H7zm0 4v2h7v-2H7z";

  function icon() {
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
    path.setAttribute("d", ICON_PATH);
    svg.appendChild(path);
    return svg;
  }

  function adoptStyle(shadow) {
    try {
      const sheet = new CSSStyleSheet();
      sheet.replaceSync(CSS);
      shadow.adoptedStyleSheets = [sheet];
    } catch {
      shadow.appendChild(el("style", null, CSS));
    }
  }

  // The Server-Sent Events of one answer: calls onEvent(name, data) as they arrive.
  async function readEvents(response, onEvent) {
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value.replace(/\r\n/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let name = "message";
        const data = [];
        for (const line of block.split("\n")) {
          if (line.startsWith("event:")) name = line.slice(6).trim();
          else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
        }
        if (data.length) onEvent(name, JSON.parse(data.join("\n")));
      }
    }
  }

  async function detailOf(response) {
    try {
      const body = await response.json();
      return body && typeof body.detail === "string" ? body.detail : "";
    } catch {
      return "";
    }
  }

  // Why a question was refused, in the visitor's language.
  function refusalKey(status, detail) {
    if (status === 401) return "widget_bad_key";
    if (status === 403) {
      // The server words it in the browser's language (api/reasons_refusals.py): any.
      const origin = ["may not be used from", "不能从", "不能從"].some((w) => detail.includes(w));
      return origin ? "widget_refused_origin" : "widget_refused";
    }
    if (status === 429) return "widget_busy";
    if (status >= 500) return "widget_unavailable";
    return "widget_failed";
  }

  let counter = 0;

  /**
   * Draws the widget into `container`. options: key (required), lang, inline (fill the
   * container, no bubble: the frame page), embedder (the frame only: the embedding page's
   * origin, as postMessage reported it).
   */
  function mount(container, options) {
    const key = String(options.key || "");
    if (!KEY_SHAPE.test(key)) throw new Error("Zhiku widget: data-key is missing or malformed");
    const lang = languageOf(options.lang) || languageOf(navigator.language) || "en";
    const t = wordsFor(lang);
    const inline = Boolean(options.inline);
    const embedder = options.embedder ? String(options.embedder) : null;
    const id = `zk-${++counter}`;

    const host = el("div");
    host.setAttribute("data-zhiku-widget", "");
    host.setAttribute("lang", lang);
    const shadow = host.attachShadow({ mode: "open" });
    adoptStyle(shadow);

    const root = el("div", `zk-root ${inline ? "zk-inline" : "zk-floating"}`);
    root.setAttribute("lang", lang);
    shadow.appendChild(root);

    const panel = el("div", "zk-panel");
    panel.id = `${id}-panel`;
    panel.setAttribute("role", inline ? "region" : "dialog");
    panel.setAttribute("aria-labelledby", `${id}-title`);

    const head = el("div", "zk-head");
    const title = el("h2", null, t("widget_title"));
    title.id = `${id}-title`;
    head.appendChild(title);
    panel.appendChild(head);

    const log = el("div", "zk-log");
    log.setAttribute("role", "log");
    log.setAttribute("aria-live", "polite");
    log.setAttribute("aria-label", t("widget_title"));
    log.tabIndex = 0;
    panel.appendChild(log);

    const form = el("form", "zk-form");
    const label = el("label", "zk-sr", t("widget_question"));
    label.htmlFor = `${id}-question`;
    const input = el("textarea");
    input.id = `${id}-question`;
    input.name = "question";
    input.rows = 2;
    input.maxLength = MAX_QUESTION_CHARS;
    input.placeholder = t("widget_placeholder");
    const send = el("button", "zk-send", t("widget_ask"));
    send.type = "submit";
    form.append(label, input, send);
    panel.appendChild(form);
    panel.appendChild(el("p", "zk-note", t("widget_note")));

    let bubble = null;
    if (!inline) {
      bubble = el("button", "zk-bubble");
      bubble.type = "button";
      bubble.setAttribute("aria-label", t("widget_open"));
      bubble.setAttribute("aria-haspopup", "dialog");
      bubble.setAttribute("aria-expanded", "false");
      bubble.setAttribute("aria-controls", panel.id);
      bubble.appendChild(icon());
      const close = el("button", "zk-close", "×");
      close.type = "button";
      close.setAttribute("aria-label", t("widget_close"));
      head.appendChild(close);
      panel.hidden = true;
      root.append(panel, bubble);
      close.addEventListener("click", () => setOpen(false));
      bubble.addEventListener("click", () => setOpen(panel.hidden));
      panel.addEventListener("keydown", (event) => {
        if (event.key === "Escape") {
          event.stopPropagation();
          setOpen(false);
        }
      });
    } else {
      root.appendChild(panel);
    }

    function setOpen(open) {
      panel.hidden = !open;
      bubble.setAttribute("aria-expanded", String(open));
      if (open) input.focus();
      else bubble.focus();
    }

    let conversationId = null;
    let running = null; // the AbortController of the answer being generated

    function turn(className, who) {
      const node = el("div", `zk-turn ${className}`);
      node.appendChild(el("span", "zk-who", who));
      log.appendChild(node);
      log.scrollTop = log.scrollHeight;
      return node;
    }

    function showError(message) {
      const node = turn("zk-error", t("widget_assistant"));
      node.setAttribute("role", "alert");
      node.appendChild(document.createTextNode(message));
      return node;
    }

    function showSources(answer, citations) {
      if (!Array.isArray(citations) || !citations.length) return;
      const box = el("div", "zk-sources");
      box.appendChild(el("h3", null, t("widget_sources")));
      const list = el("ol");
      for (const citation of citations) {
        const item = el("li");
        item.value = Number(citation.number) || 0;
        let text = String(citation.title || citation.filename || "");
        if (citation.page) text += ` · ${t("widget_page", { page: citation.page })}`;
        item.textContent = text;
        list.appendChild(item);
      }
      box.appendChild(list);
      answer.appendChild(box);
    }

    function finished() {
      running = null;
      send.textContent = t("widget_ask");
      input.disabled = false;
      input.focus();
    }

    async function ask(question) {
      turn("zk-user", t("widget_you")).appendChild(document.createTextNode(question));
      const answer = turn("zk-answer", t("widget_assistant"));
      answer.setAttribute("aria-busy", "true");
      const status = el("span", "zk-status", t("widget_thinking"));
      answer.appendChild(status);
      const text = document.createTextNode("");
      let citations = [];
      let read = [];
      const controller = new AbortController();
      running = controller;
      send.textContent = t("widget_stop");
      input.disabled = true;
      const headers = {
        Authorization: `Bearer ${key}`,
        "Content-Type": "application/json",
        Accept: "text/event-stream",
      };
      if (embedder) headers[EMBEDDER_HEADER] = embedder;
      const body = { message: question };
      if (conversationId) body.conversation_id = conversationId;
      try {
        const response = await fetch(`${BASE}/v1/chat`, {
          method: "POST",
          mode: "cors",
          credentials: "omit",
          cache: "no-store",
          referrerPolicy: "no-referrer",
          headers,
          body: JSON.stringify(body),
          signal: controller.signal,
        });
        if (!response.ok) {
          answer.remove();
          const detail = await detailOf(response);
          showError(t(refusalKey(response.status, detail)));
          if (response.status === 404) conversationId = null;
          return;
        }
        let outcome = "ok";
        let failed = false;
        await readEvents(response, (name, data) => {
          if (name === "meta" && data.conversation_id) {
            conversationId = String(data.conversation_id);
          } else if (name === "token") {
            if (status.isConnected) status.replaceWith(text);
            text.appendData(String(data.text || ""));
            log.scrollTop = log.scrollHeight;
          } else if (name === "sources") {
            read = data.sources || [];
          } else if (name === "citations") {
            citations = data.citations || [];
          } else if (name === "done") {
            outcome = String(data.outcome || "ok");
          } else if (name === "error") {
            failed = true;
          }
        });
        if (status.isConnected) {
          status.replaceWith(text);
          if (!text.data) text.appendData(t(outcome === "no_context" ? "widget_no_context" : "widget_failed"));
        }
        // What the answer cites; when it cites nothing it was still drawn from what it read.
        if (failed) showError(t("widget_failed"));
        else showSources(answer, citations.length || outcome !== "ok" ? citations : read);
      } catch (error) {
        if (controller.signal.aborted) {
          if (status.isConnected) status.replaceWith(text);
          answer.appendChild(el("span", "zk-status", ` ${t("widget_stopped")}`));
        } else {
          answer.remove();
          showError(t("widget_unreachable"));
        }
      } finally {
        answer.setAttribute("aria-busy", "false");
        log.scrollTop = log.scrollHeight;
        finished();
      }
    }

    form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (running) {
        running.abort();
        return;
      }
      const question = input.value.trim();
      if (!question) return;
      input.value = "";
      ask(question);
    });
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        form.requestSubmit();
      }
    });

    container.appendChild(host);
    return {
      open: () => bubble && setOpen(true),
      close: () => bubble && setOpen(false),
      remove: () => {
        if (running) running.abort();
        host.remove();
      },
    };
  }

  if (!window.ZhikuWidget) {
    window.ZhikuWidget = Object.freeze({ mount });
  }

  const key = script.dataset.key;
  if (key && script.dataset.frame === undefined) {
    const start = () => mount(document.body, { key, lang: script.dataset.lang });
    if (document.body) start();
    else document.addEventListener("DOMContentLoaded", start, { once: true });
  }
})();
