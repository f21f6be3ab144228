// The chat page: conversations, a streamed answer whose sources show before its first word,
// [n] citations that open the cited passage, copy, thumbs up/down, stop generating.
// Markdown is rendered by markdown-it with raw HTML off: text from the model or from documents
// reaches the DOM only escaped, or through textContent.
import { api, stream, words } from "/static/js/api.js";

const W = words();
const lang = document.documentElement.lang || "en";
const say = (key, values = {}) =>
  (W[key] || key).replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ""));

const md = window.markdownit({ html: false, linkify: false, typographer: false, breaks: true });
md.disable(["image"]); // no remote images from an answer
md.validateLink = (url) => /^https?:\/\//i.test(url.trim());
// Links an answer holds open elsewhere, never replace the page.
const defaultLinkOpen =
  md.renderer.rules.link_open || ((tokens, i, options, env, self) => self.renderToken(tokens, i, options));
md.renderer.rules.link_open = (tokens, i, options, env, self) => {
  tokens[i].attrSet("target", "_blank");
  tokens[i].attrSet("rel", "noopener noreferrer");
  return defaultLinkOpen(tokens, i, options, env, self);
};

const $ = (id) => document.getElementById(id);
const log = $("chat-log");
const list = $("chat-list");
const form = $("chat-form");
const input = $("chat-input");
const sendButton = $("chat-send");
const stopButton = $("chat-stop");
const status = $("chat-status");
const dialog = $("chat-passage");

const dateFormat = new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeStyle: "short" });
let current = null; // the open conversation's id
let running = null; // the AbortController of the answer being written

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("aria-") || key === "role" || key === "datetime" || key === "lang")
      node.setAttribute(key, value);
    else node[key] = value;
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

function announce(text) {
  status.textContent = "";
  window.setTimeout(() => {
    status.textContent = text;
  }, 50);
}

function pages(item) {
  if (!item.page) return "";
  if (item.page_end && item.page_end !== item.page) return say("chat_pages", { page: item.page, end: item.page_end });
  return say("chat_page", { page: item.page });
}

function label(item) {
  const where = pages(item);
  return where ? `${item.title || item.filename}, ${where}` : item.title || item.filename;
}

// --- conversations

async function loadConversations() {
  const result = await api("GET", "/v1/conversations?limit=100");
  list.replaceChildren(...result.data.map(conversationItem));
  $("chat-none").hidden = result.data.length > 0;
}

function conversationItem(conversation) {
  const when = new Date(conversation.updated_at);
  const open = el(
    "button",
    { type: "button", class: "chat-open" },
    el("span", { text: conversation.title }),
    el("time", { datetime: conversation.updated_at, text: dateFormat.format(when) }),
    // Its last answer was stopped: said in words, not only by a colour or an icon.
    conversation.stopped ? el("span", { class: "chat-stopped-mark", text: say("chat_stopped_mark") }) : null,
  );
  if (conversation.id === current) open.setAttribute("aria-current", "true");
  open.addEventListener("click", () => openConversation(conversation.id));
  const remove = el("button", {
    type: "button",
    class: "chat-delete",
    text: say("chat_delete"),
    "aria-label": say("chat_delete_named", { title: conversation.title }),
  });
  remove.addEventListener("click", async () => {
    if (!remove.classList.contains("confirming")) {
      remove.classList.add("confirming");
      remove.textContent = say("chat_delete_confirm");
      remove.setAttribute("aria-label", `${say("chat_delete_confirm")}: ${conversation.title}`);
      return;
    }
    try {
      await api("DELETE", `/v1/conversations/${encodeURIComponent(conversation.id)}`);
      if (conversation.id === current) newConversation();
      await loadConversations();
      announce(say("chat_deleted"));
      $("chat-new").focus();
    } catch (error) {
      announce(say("chat_load_failed", { detail: error.message }));
    }
  });
  remove.addEventListener("blur", () => {
    remove.classList.remove("confirming");
    remove.textContent = say("chat_delete");
    remove.setAttribute("aria-label", say("chat_delete_named", { title: conversation.title }));
  });
  return el("li", {}, open, remove);
}

function setCurrent(id) {
  current = id;
  const url = new URL(window.location.href);
  if (id) url.searchParams.set("c", id);
  else url.searchParams.delete("c");
  window.history.replaceState(null, "", url);
  for (const button of list.querySelectorAll(".chat-open")) button.removeAttribute("aria-current");
}

function newConversation() {
  if (running) running.abort();
  setCurrent(null);
  log.replaceChildren(el("p", { class: "notice chat-empty", text: say("chat_empty") }));
  input.focus();
}

async function openConversation(id) {
  if (running) running.abort();
  let detail;
  try {
    detail = await api("GET", `/v1/conversations/${encodeURIComponent(id)}`);
  } catch (error) {
    if (error.status === 404) return newConversation();
    announce(say("chat_load_failed", { detail: error.message }));
    return;
  }
  setCurrent(id);
  log.replaceChildren();
  let question = null;
  for (const message of detail.messages) {
    if (message.role === "user") {
      question = message.content;
      continue;
    }
    const turn = addTurn(question ?? "");
    question = null;
    // A stored answer keeps its citations, not the excerpts the model read: cited sources.
    turn.sources = message.citations;
    showSources(turn, message.citations);
    turn.text = message.content;
    renderAnswer(turn);
    finishTurn(turn, { answer_id: message.answer_id, outcome: null }, message.feedback);
    if (message.stopped) {
      turn.article.classList.add("stopped");
      turn.answer.after(el("p", { class: "chat-outcome chat-stopped", text: say("chat_stopped_answer") }));
    }
  }
  if (question !== null) addTurn(question);
  await loadConversations();
  log.scrollTop = log.scrollHeight;
}

// --- one question and its answer

function addTurn(question) {
  log.querySelector(".chat-empty")?.remove();
  const answer = el("div", { class: "chat-answer" });
  const sourcesSlot = el("div", { class: "chat-sources-slot" });
  const tools = el("div", { class: "chat-tools" });
  const article = el(
    "article",
    { class: "chat-turn" },
    el("h3", { text: say("chat_you") }),
    el("p", { class: "chat-question", text: question }),
    el("h3", { text: say("chat_assistant") }),
    sourcesSlot,
    answer,
    tools,
  );
  log.append(article);
  return { article, answer, sourcesSlot, tools, text: "", sources: [], frame: 0 };
}

function showSources(turn, sources) {
  if (!sources.length) {
    turn.sourcesSlot.replaceChildren();
    return;
  }
  const items = sources.map((source) => {
    const open = el("button", {
      type: "button",
      class: "chat-source",
      text: `[${source.number}] ${label(source)}`,
    });
    open.addEventListener("click", () => openPassage(source));
    const excerpt = source.excerpt ? el("p", { class: "chat-excerpt", text: source.excerpt }) : null;
    return el("li", { value: source.number }, open, excerpt);
  });
  turn.sourcesSlot.replaceChildren(
    el("section", { class: "chat-sources" }, el("h4", { text: say("chat_sources") }), el("ol", {}, ...items)),
  );
}

// Markdown to the DOM (escaped by markdown-it), then each [n] that names a source becomes a
// button opening that passage. Only text nodes are touched, never re-parsed as HTML.
function renderAnswer(turn) {
  turn.answer.innerHTML = md.render(turn.text);
  const byNumber = new Map(turn.sources.map((s) => [Number(s.number), s]));
  const walker = document.createTreeWalker(turn.answer, NodeFilter.SHOW_TEXT);
  const nodes = [];
  while (walker.nextNode()) {
    if (/\[\d{1,3}\]/.test(walker.currentNode.nodeValue) && !walker.currentNode.parentElement.closest("pre, code"))
      nodes.push(walker.currentNode);
  }
  for (const node of nodes) {
    const parts = node.nodeValue.split(/(\[\d{1,3}\])/);
    const pieces = parts.map((part) => {
      const match = /^\[(\d{1,3})\]$/.exec(part);
      const source = match && byNumber.get(Number(match[1]));
      if (!source) return document.createTextNode(part);
      const button = el("button", {
        type: "button",
        class: "chat-cite",
        text: String(source.number),
        "aria-label": say("chat_cite", { n: source.number, title: label(source) }),
      });
      button.addEventListener("click", () => openPassage(source));
      return button;
    });
    node.replaceWith(...pieces);
  }
}

function scheduleRender(turn) {
  if (turn.frame) return;
  turn.frame = window.requestAnimationFrame(() => {
    turn.frame = 0;
    const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 80;
    renderAnswer(turn);
    if (atBottom) log.scrollTop = log.scrollHeight;
  });
}

function finishTurn(turn, done, vote = null) {
  turn.answer.classList.remove("streaming");
  if (done.outcome === "no_context" || done.outcome === "declined") {
    turn.answer.prepend(
      el("p", { class: "chat-outcome", text: say(done.outcome === "no_context" ? "chat_no_answer" : "chat_declined") }),
    );
  }
  const copy = el("button", { type: "button", text: say("chat_copy") });
  copy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(turn.text);
      announce(say("chat_copied"));
    } catch {
      announce(say("chat_copy_failed"));
    }
  });
  const tools = [copy];
  if (done.answer_id) {
    // Words, not emoji: a system without an emoji font shows those as empty boxes.
    const up = el("button", { type: "button", class: "chat-vote up", text: say("chat_good"), "aria-pressed": "false" });
    const down = el("button", { type: "button", class: "chat-vote down", text: say("chat_bad"), "aria-pressed": "false" });
    const mark = (rating) => {
      up.setAttribute("aria-pressed", String(rating === "up"));
      down.setAttribute("aria-pressed", String(rating === "down"));
    };
    mark(vote);
    const send = async (rating) => {
      try {
        await api("POST", `/v1/answers/${encodeURIComponent(done.answer_id)}/feedback`, { rating });
        mark(rating);
        announce(say("chat_thanks"));
      } catch (error) {
        announce(say("chat_load_failed", { detail: error.message }));
      }
    };
    up.addEventListener("click", () => {
      turn.article.querySelector(".chat-why")?.remove();
      send("up");
    });
    down.addEventListener("click", async () => {
      await send("down");
      if (down.getAttribute("aria-pressed") === "true") askWhy(turn, done.answer_id, mark);
    });
    tools.push(up, down);
  }
  turn.tools.replaceChildren(...tools);
}

// After a thumbs down: an optional word on what was wrong, kept with the vote.
function askWhy(turn, answerId, mark) {
  if (turn.article.querySelector(".chat-why")) return;
  const id = `chat-why-${answerId}`;
  const box = el("textarea", { id, rows: 2, maxLength: 1000 });
  const submit = el("button", { type: "submit", text: say("chat_why_send") });
  const why = el(
    "form",
    { class: "chat-why" },
    el("label", { htmlFor: id, text: say("chat_why") }),
    box,
    el("div", { class: "chat-actions" }, submit),
  );
  why.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await api("POST", `/v1/answers/${encodeURIComponent(answerId)}/feedback`, {
        rating: "down",
        comment: box.value.trim(),
      });
      mark("down");
      why.remove();
      announce(say("chat_thanks"));
    } catch (error) {
      announce(say("chat_load_failed", { detail: error.message }));
    }
  });
  turn.article.append(why);
  box.focus();
}

function busy(on) {
  sendButton.disabled = on;
  stopButton.hidden = !on;
  log.setAttribute("aria-busy", String(on)); // the log is announced once, when the answer is done
}

async function ask(question) {
  const turn = addTurn(question);
  turn.answer.classList.add("streaming");
  log.scrollTop = log.scrollHeight;
  const controller = new AbortController();
  running = controller;
  busy(true);
  announce(say("chat_searching"));
  let done = null;
  try {
    const body = { message: question };
    if (current) body.conversation_id = current;
    await stream(
      "/v1/chat",
      body,
      (name, data) => {
        if (name === "meta") {
          if (!current) setCurrent(data.conversation_id);
        } else if (name === "sources") {
          turn.sources = data.sources;
          showSources(turn, data.sources);
          announce(say("chat_writing"));
        } else if (name === "token") {
          turn.text += data.text;
          scheduleRender(turn);
        } else if (name === "citations") {
          // Keep the excerpts the sources carried; a citation adds nothing they lack.
          if (!turn.sources.length) turn.sources = data.citations;
        } else if (name === "done") {
          done = data;
        } else if (name === "error") {
          turn.article.append(el("p", { class: "chat-error", text: say("chat_error", { detail: data.detail }) }));
        }
      },
      { signal: controller.signal },
    );
  } catch (error) {
    if (error.name === "AbortError") {
      turn.article.append(el("p", { class: "chat-outcome", text: say("chat_stopped") }));
      announce(say("chat_stopped"));
    } else {
      turn.article.append(el("p", { class: "chat-error", text: say("chat_error", { detail: error.message }) }));
      announce(say("chat_error", { detail: error.message }));
    }
  } finally {
    if (turn.frame) window.cancelAnimationFrame(turn.frame);
    turn.frame = 0;
    renderAnswer(turn);
    turn.answer.classList.remove("streaming");
    if (running === controller) running = null;
    busy(false);
  }
  if (done) {
    finishTurn(turn, done);
    announce(say("chat_done"));
  }
  await loadConversations().catch(() => {});
}

// --- the cited passage

async function openPassage(source) {
  const body = $("chat-passage-body");
  const meta = $("chat-passage-meta");
  const file = $("chat-passage-file");
  $("chat-passage-title").textContent = source.title || source.filename;
  meta.textContent = [pages(source), (source.section || []).join(" › ")].filter(Boolean).join(" · ");
  body.replaceChildren(el("p", { class: "notice", text: say("chat_loading") }));
  file.hidden = true;
  if (!dialog.open) dialog.showModal();
  const ids = (source.chunk_ids || []).slice(0, 8);
  const doc = encodeURIComponent(source.document_id);
  try {
    const chunks = await Promise.all(
      ids.map((id) => api("GET", `/v1/documents/${doc}/passages/${encodeURIComponent(id)}`)),
    );
    if (!chunks.length) throw Object.assign(new Error("none"), { status: 404 });
    const first = chunks[0];
    const last = chunks[chunks.length - 1];
    $("chat-passage-title").textContent = first.title || first.filename;
    const marks = chunks.map((c) => el("mark", { text: c.text }));
    const joined = marks.flatMap((m, i) => (i ? [document.createTextNode("\n"), m] : [m]));
    body.replaceChildren(
      first.before ? el("span", { class: "context", text: `${first.before}\n` }) : null,
      ...joined,
      last.after ? el("span", { class: "context", text: `\n${last.after}` }) : null,
    );
    const page = first.page && first.mime_type === "application/pdf" ? `#page=${first.page}` : "";
    // No link when the cited version's file is no longer kept, rather than another version's.
    if (first.file_url) file.href = first.file_url + page;
    file.hidden = !first.file_url;
    body.querySelector("mark")?.scrollIntoView({ block: "center" });
  } catch (error) {
    const text = error.status === 404 ? say("chat_passage_missing") : say("chat_load_failed", { detail: error.message });
    body.replaceChildren(el("p", { class: "chat-error", text }));
  }
}

$("chat-passage-close").addEventListener("click", () => dialog.close());
dialog.addEventListener("click", (event) => {
  if (event.target === dialog) dialog.close(); // a click on the backdrop
});

// --- the message box

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const question = input.value.trim();
  if (!question || running) return;
  input.value = "";
  ask(question);
});

input.addEventListener("keydown", (event) => {
  // Enter sends; Shift+Enter is a new line; Enter that confirms an IME's candidate (Chinese
  // input methods) is the input method's, never a send.
  if (event.key !== "Enter" || event.shiftKey || event.isComposing || event.keyCode === 229) return;
  event.preventDefault();
  form.requestSubmit();
});

stopButton.addEventListener("click", () => {
  if (running) running.abort();
  input.focus();
});

$("chat-new").addEventListener("click", newConversation);

const wanted = new URL(window.location.href).searchParams.get("c");
loadConversations()
  .then(() => (wanted ? openConversation(wanted) : null))
  .catch((error) => announce(say("chat_load_failed", { detail: error.message })));
