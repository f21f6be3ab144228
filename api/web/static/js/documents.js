// The documents page: upload files and folders (drop or pick) in small concurrent batches,
// with a progress bar per file for the upload and then for processing; the list of the
// documents the user may read, filtered, searched and paged, kept live by polling the ones
// still being processed; retry, access, new version and delete. Every name, title and error
// from the server is inserted as text (textContent), never as HTML.
import { api, ApiError, words } from "/static/js/api.js";

const W = words();
const CONFIG = JSON.parse(document.getElementById("documents-config").textContent);
const LANG = document.documentElement.lang || "en";
const ROOT = document.querySelector(".docs");
const USER_ID = ROOT.dataset.user;
const IS_ADMIN = ROOT.dataset.admin === "true";
const POLL_MS = 1500;
const CONCURRENT_BATCHES = 3;
const TERMINAL = new Set(["ready", "failed"]);
const MIME_KEYS = new Map(Object.entries(CONFIG.mimeTypes).map(([key, mime]) => [mime, key]));

const $ = (id) => document.getElementById(id);

// --- words, numbers, dates

function t(key, values = {}) {
  const text = W[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in values ? String(values[name]) : `{${name}}`));
}

const dateFormat = new Intl.DateTimeFormat(LANG, { dateStyle: "medium", timeStyle: "short" });
const numberFormat = new Intl.NumberFormat(LANG);
const UNITS = ["byte", "kilobyte", "megabyte", "gigabyte", "terabyte"];
const sizeFormats = new Map();

function formatSize(bytes) {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  if (!sizeFormats.has(unit)) {
    sizeFormats.set(
      unit,
      new Intl.NumberFormat(LANG, {
        style: "unit",
        unit: UNITS[unit],
        unitDisplay: unit === 0 ? "long" : "short",
        maximumFractionDigits: unit === 0 ? 0 : 1,
      }),
    );
  }
  return sizeFormats.get(unit).format(value);
}

function formatDate(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? "" : dateFormat.format(date);
}

function element(tag, { className, text, attrs } = {}, children = []) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
  for (const child of children) if (child) node.append(child);
  return node;
}

function button(text, { className = "secondary small", label, onClick } = {}) {
  const node = element("button", { className, text, attrs: { type: "button" } });
  if (label) node.setAttribute("aria-label", label);
  if (onClick) node.addEventListener("click", onClick);
  return node;
}

function announce(message) {
  const node = $("announce");
  node.textContent = "";
  // A fresh text node after a tick, so that a repeated message is read again.
  setTimeout(() => {
    node.textContent = message;
  }, 50);
}

function showError(error) {
  const reason = error instanceof ApiError && error.status === 403 ? t("documents_not_allowed") : reasonOf(error);
  $("alert").textContent = t("documents_error", { reason });
}

function reasonOf(error) {
  if (error instanceof ApiError) return error.message;
  return W.network_error || String(error && error.message ? error.message : error);
}

function clearError() {
  $("alert").textContent = "";
}

const statusText = (doc) => t(`documents_status_${doc.status}`);
const typeOf = (doc) => (MIME_KEYS.get(doc.mime_type) || doc.mime_type).toUpperCase();
const mayManage = (doc) => IS_ADMIN || doc.owner_id === USER_ID;

function stageText(doc) {
  const parts = [t(`documents_stage_${doc.stage}`)];
  if (doc.progress.chunks_total > 0) {
    parts.push(t("documents_chunks", { done: numberFormat.format(doc.progress.chunks_done), total: numberFormat.format(doc.progress.chunks_total) }));
  }
  return parts.join(" · ");
}

// --- the list

const state = { q: "", status: "", type: "", tag: "", offset: 0, count: 0, docs: new Map() };
const rows = new Map(); // document id -> its <tr>

function readFiltersFromUrl() {
  const params = new URLSearchParams(location.search);
  for (const name of ["q", "status", "type", "tag"]) state[name] = params.get(name) || "";
  state.offset = Math.max(0, Number.parseInt(params.get("offset") || "0", 10) || 0);
  $("filter-q").value = state.q;
  $("filter-status").value = state.status;
  $("filter-type").value = state.type;
  $("filter-tag").value = state.tag;
}

function writeFiltersToUrl() {
  const params = new URLSearchParams(location.search);
  for (const name of ["q", "status", "type", "tag"]) {
    if (state[name]) params.set(name, state[name]);
    else params.delete(name);
  }
  if (state.offset) params.set("offset", String(state.offset));
  else params.delete("offset");
  params.delete("lang");
  const query = params.toString();
  history.replaceState(null, "", query ? `?${query}` : location.pathname);
}

function listPath() {
  const params = new URLSearchParams({ limit: String(CONFIG.pageSize), offset: String(state.offset) });
  for (const name of ["q", "status", "type", "tag"]) if (state[name]) params.set(name, state[name]);
  return `/v1/documents?${params}`;
}

let listRequest = 0;

async function refreshList() {
  const mine = ++listRequest;
  $("doc-table").setAttribute("aria-busy", "true");
  try {
    const page = await api("GET", listPath());
    if (mine !== listRequest) return; // a newer request won
    if (page.data.length === 0 && state.offset > 0 && page.count > 0) {
      state.offset = Math.max(0, Math.floor((page.count - 1) / CONFIG.pageSize) * CONFIG.pageSize);
      return refreshList();
    }
    state.count = page.count;
    renderRows(page.data);
    clearError();
  } catch (error) {
    if (mine === listRequest) showError(error);
  } finally {
    if (mine === listRequest) $("doc-table").removeAttribute("aria-busy");
  }
}

function renderRows(docs) {
  const body = $("doc-rows");
  body.replaceChildren();
  rows.clear();
  state.docs.clear();
  for (const doc of docs) {
    state.docs.set(doc.id, doc);
    const row = buildRow(doc);
    rows.set(doc.id, row);
    body.append(row);
    if (!TERMINAL.has(doc.status)) watch(doc.id);
  }
  if (docs.length === 0) {
    body.append(element("tr", {}, [element("td", { className: "empty", text: t("documents_none"), attrs: { colspan: "6" } })]));
  }
  $("count").textContent = state.count === 1 ? t("documents_count_one") : t("documents_count", { count: numberFormat.format(state.count) });
  const pages = Math.max(1, Math.ceil(state.count / CONFIG.pageSize));
  const current = Math.floor(state.offset / CONFIG.pageSize) + 1;
  $("page-info").textContent = t("documents_page", { page: numberFormat.format(current), pages: numberFormat.format(pages) });
  $("prev-page").disabled = state.offset === 0;
  $("next-page").disabled = state.offset + CONFIG.pageSize >= state.count;
  writeFiltersToUrl();
}

function accessSummary(doc) {
  if (doc.access.everyone) return t("documents_access_summary_everyone");
  const readers = doc.access.users.filter((id) => id !== doc.owner_id).length + doc.access.groups.length;
  if (readers === 0) return t("documents_access_summary_owner");
  return readers === 1 ? t("documents_access_summary_one") : t("documents_access_summary_some", { count: numberFormat.format(readers) });
}

function buildRow(doc) {
  const row = element("tr", { attrs: { "data-id": doc.id } });
  const name = element("td", { className: "name", attrs: { "data-label": t("documents_col_name") } }, [
    element("span", { className: "title", text: doc.title }),
    element("span", { className: "filename", text: doc.filename }),
    element("span", { className: "meta", text: [t("documents_version", { version: doc.version }), accessSummary(doc)].join(" · ") }),
  ]);
  if (doc.tags.length) {
    const tags = element("ul", { className: "tags", attrs: { "aria-label": t("documents_tags") } });
    for (const tag of doc.tags) tags.append(element("li", { text: tag }));
    name.append(tags);
  }
  const status = element("td", { className: "status", attrs: { "data-label": t("documents_col_status") } });
  fillStatus(status, doc);
  const updated = element("td", { attrs: { "data-label": t("documents_col_updated") } }, [
    element("time", { text: formatDate(doc.updated_at), attrs: { datetime: doc.updated_at } }),
  ]);
  const actions = element("td", { attrs: { "data-label": t("documents_col_actions") } });
  if (mayManage(doc)) {
    const group = element("div", { className: "actions" });
    actions.append(group);
    group.append(
      button(t("documents_access"), { label: t("documents_access_of", { name: doc.filename }), onClick: (e) => openAccess(doc.id, e.currentTarget) }),
      button(t("documents_new_version"), { label: t("documents_new_version_of", { name: doc.filename }), onClick: (e) => pickVersion(doc.id, e.currentTarget) }),
      button(t("documents_delete"), { className: "danger small", label: t("documents_delete_of", { name: doc.filename }), onClick: (e) => askDelete(doc.id, e.currentTarget) }),
    );
  }
  row.append(
    name,
    element("td", { text: typeOf(doc), attrs: { "data-label": t("documents_col_type") } }),
    element("td", { className: "number", text: formatSize(doc.size_bytes), attrs: { "data-label": t("documents_col_size") } }),
    status,
    updated,
    actions,
  );
  return row;
}

function fillStatus(cell, doc) {
  cell.replaceChildren(element("span", { className: `badge badge-${doc.status}`, text: statusText(doc) }));
  if (doc.status === "failed") {
    if (doc.error) cell.append(element("span", { className: "reason", text: doc.error }));
    if (mayManage(doc)) {
      cell.append(button(t("documents_retry"), { label: t("documents_retry_of", { name: doc.filename }), onClick: () => retry(doc.id) }));
    }
  } else if (doc.status !== "ready") {
    cell.append(
      element("progress", { attrs: { max: "100", value: String(doc.progress.percent), "aria-label": t("documents_processing_progress", { name: doc.filename }) } }),
      element("span", { className: "stage", text: stageText(doc) }),
    );
  }
}

function updateDocument(doc) {
  const before = state.docs.get(doc.id) || uploadsByDoc.get(doc.id)?.doc;
  if (state.docs.has(doc.id)) {
    state.docs.set(doc.id, doc);
    const row = rows.get(doc.id);
    if (row) {
      const fresh = buildRow(doc);
      row.replaceWith(fresh);
      rows.set(doc.id, fresh);
    }
  }
  const item = uploadsByDoc.get(doc.id);
  if (item) setUploadDocument(item, doc);
  if (before && !TERMINAL.has(before.status) && TERMINAL.has(doc.status)) {
    announce(`${doc.filename}: ${statusText(doc)}`);
  }
}

// --- polling the documents still being processed

const watching = new Set();
let pollTimer = null;

function watch(id) {
  watching.add(id);
  if (pollTimer === null) pollTimer = setTimeout(poll, POLL_MS);
}

async function poll() {
  pollTimer = null;
  const ids = [...watching].slice(0, 200);
  if (ids.length === 0) return;
  try {
    const params = new URLSearchParams({ limit: "200" });
    for (const id of ids) params.append("id", id);
    const page = await api("GET", `/v1/documents?${params}`);
    const seen = new Set();
    for (const doc of page.data) {
      seen.add(doc.id);
      updateDocument(doc);
      if (TERMINAL.has(doc.status)) watching.delete(doc.id);
    }
    for (const id of ids) if (!seen.has(id)) watching.delete(id); // deleted meanwhile
  } catch {
    // A missed poll is tried again at the next tick.
  }
  if (watching.size > 0 && pollTimer === null) pollTimer = setTimeout(poll, POLL_MS);
}

// --- uploads

const uploads = []; // every file of this session's uploads
const uploadsByDoc = new Map();
const waiting = [];
let inFlight = 0;

// Always an explicit list: "only me" must not fall back to the organisation's default.
function accessField() {
  if ($("upload-access").value === "everyone") return JSON.stringify({ everyone: true });
  return JSON.stringify({ users: [document.querySelector(".docs").dataset.user] });
}

function addUploads(files) {
  const list = $("upload-list");
  $("uploads").hidden = false;
  for (const { file, path } of files) {
    const label = path || file.name;
    const item = { file, label, state: "waiting", doc: null, loaded: 0 };
    item.node = element("li", { className: "upload-item" });
    item.name = element("span", { className: "upload-name", text: label });
    item.size = element("span", { className: "upload-size", text: formatSize(file.size) });
    item.bar = element("progress", { attrs: { max: "100", value: "0", "aria-label": t("documents_upload_progress", { name: label }) } });
    item.text = element("span", { className: "upload-state", text: t("documents_upload_waiting") });
    item.node.append(item.name, item.size, item.bar, item.text);
    list.append(item.node);
    uploads.push(item);
    waiting.push(item);
  }
  pump();
}

// Batches of a few files and bytes each: one folder of thousands of files never becomes one
// giant request, and a few requests run side by side.
function nextBatch() {
  const batch = [];
  let bytes = 0;
  while (waiting.length && batch.length < CONFIG.batchFiles) {
    const size = waiting[0].file.size;
    if (batch.length && bytes + size > CONFIG.batchBytes) break;
    batch.push(waiting.shift());
    bytes += size;
  }
  return batch;
}

function pump() {
  while (inFlight < CONCURRENT_BATCHES && waiting.length) {
    const batch = nextBatch();
    inFlight += 1;
    sendBatch(batch).finally(() => {
      inFlight -= 1;
      summarise();
      refreshSoon();
      pump();
    });
  }
}

function send(path, form, onProgress) {
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", path);
    xhr.withCredentials = true;
    xhr.setRequestHeader("Accept", "application/json");
    xhr.setRequestHeader("Accept-Language", document.documentElement.lang || "en"); // reasons in the page's language
    xhr.setRequestHeader("X-CSRF-Token", document.querySelector('meta[name="csrf-token"]')?.content ?? "");
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(event.loaded, event.total);
    });
    xhr.addEventListener("load", () => {
      let body = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        body = null;
      }
      resolve({ status: xhr.status, body });
    });
    xhr.addEventListener("error", () => resolve({ status: 0, body: null }));
    xhr.addEventListener("abort", () => resolve({ status: 0, body: null }));
    xhr.send(form);
  });
}

function setUploading(item, percent) {
  item.state = "uploading";
  item.bar.value = percent;
  item.text.textContent = t("documents_uploading", { percent: numberFormat.format(Math.round(percent)) });
}

function refuse(item, reason) {
  item.state = "refused";
  item.bar.remove();
  item.text.textContent = t("documents_upload_refused", { reason });
  item.node.classList.add("refused");
}

function setUploadDocument(item, doc) {
  item.doc = doc;
  item.state = TERMINAL.has(doc.status) ? doc.status : "processing";
  uploadsByDoc.set(doc.id, item);
  item.bar.value = 100;
  item.bar.hidden = true; // uploaded: the processing bar takes its place
  if (!item.processing) {
    item.processing = element("progress", { className: "processing", attrs: { max: "100", value: "0", "aria-label": t("documents_processing_progress", { name: item.label }) } });
    item.detail = element("span", { className: "upload-detail" });
    item.node.append(item.processing, item.detail);
  }
  item.processing.value = doc.progress.percent;
  item.text.textContent = statusText(doc);
  item.text.className = `upload-state badge badge-${doc.status}`;
  item.detail.textContent = doc.status === "failed" ? doc.error || "" : doc.status === "ready" ? "" : stageText(doc);
  item.node.classList.toggle("failed", doc.status === "failed");
}

async function sendBatch(batch) {
  const form = new FormData();
  for (const item of batch) form.append("files", item.file, item.file.name);
  const access = accessField();
  if (access) form.append("access", access);
  const tags = $("upload-tags").value.trim();
  if (tags) form.append("tags", tags);
  const total = batch.reduce((sum, item) => sum + item.file.size, 0) || 1;
  for (const item of batch) setUploading(item, 0);
  const { status, body } = await send("/v1/documents", form, (loaded, sent) => {
    // Parts go in order: each file's share of what has been sent so far.
    let before = 0;
    const bytesSent = (loaded / sent) * total;
    for (const item of batch) {
      const own = item.file.size || 1;
      setUploading(item, Math.max(0, Math.min(100, (100 * (bytesSent - before)) / own)));
      before += item.file.size;
    }
  });
  const errors = (body && Array.isArray(body.errors) ? body.errors : []).slice();
  const accepted = status === 202 && body && Array.isArray(body.data) ? body.data.slice() : [];
  if (status !== 202 && errors.length === 0) {
    const reason = body && typeof body.detail === "string" ? body.detail : status === 0 ? W.network_error : `HTTP ${status}`;
    for (const item of batch) refuse(item, reason);
    return;
  }
  for (const item of batch) {
    const index = errors.findIndex((e) => e.filename === item.file.name);
    if (index >= 0) {
      refuse(item, errors[index].detail);
      errors.splice(index, 1);
    } else if (accepted.length) {
      const doc = accepted.shift();
      setUploadDocument(item, doc);
      if (!TERMINAL.has(doc.status)) watch(doc.id);
    } else {
      refuse(item, `HTTP ${status}`);
    }
  }
  if (body && body.notice) $("alert").textContent = body.notice;
}

function summarise() {
  const total = uploads.length;
  const done = uploads.filter((item) => item.state !== "waiting" && item.state !== "uploading").length;
  announce(done === total ? t("documents_uploads_done", { total: numberFormat.format(total) }) : t("documents_uploads_summary", { done: numberFormat.format(done), total: numberFormat.format(total) }));
}

let refreshTimer = null;
function refreshSoon() {
  if (refreshTimer !== null) return;
  refreshTimer = setTimeout(() => {
    refreshTimer = null;
    refreshList();
  }, 300);
}

// Files from a drop: folders walked through the File System entries API.
async function filesOfDrop(dataTransfer) {
  const entries = [];
  for (const item of dataTransfer.items || []) {
    if (item.kind !== "file") continue;
    const entry = item.webkitGetAsEntry ? item.webkitGetAsEntry() : null;
    if (entry) entries.push(entry);
    else {
      const file = item.getAsFile();
      if (file) entries.push(file);
    }
  }
  if (entries.length === 0) return [...(dataTransfer.files || [])].map((file) => ({ file, path: "" }));
  const found = [];
  for (const entry of entries) {
    if (entry instanceof File) found.push({ file: entry, path: "" });
    else await walk(entry, found);
  }
  return found;
}

async function walk(entry, found) {
  if (entry.isFile) {
    const file = await new Promise((resolve, reject) => entry.file(resolve, reject)).catch(() => null);
    if (file) found.push({ file, path: entry.fullPath.replace(/^\//, "") });
    return;
  }
  if (!entry.isDirectory) return;
  const reader = entry.createReader();
  for (;;) {
    // readEntries answers in pieces (about 100 at a time) until it answers none.
    const batch = await new Promise((resolve) => reader.readEntries(resolve, () => resolve([])));
    if (batch.length === 0) break;
    for (const child of batch) await walk(child, found);
  }
}

function filesOfInput(input) {
  return [...input.files].map((file) => ({ file, path: file.webkitRelativePath || "" }));
}

function setUpUploads() {
  const zone = $("drop-zone");
  $("pick-files").addEventListener("click", () => $("file-input").click());
  $("pick-folder").addEventListener("click", () => $("folder-input").click());
  for (const id of ["file-input", "folder-input"]) {
    $(id).addEventListener("change", (event) => {
      addUploads(filesOfInput(event.target));
      event.target.value = "";
    });
  }
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    event.dataTransfer.dropEffect = "copy";
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", (event) => {
    if (!zone.contains(event.relatedTarget)) zone.classList.remove("over");
  });
  zone.addEventListener("drop", async (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    addUploads(await filesOfDrop(event.dataTransfer));
  });
  // A file dropped beside the zone must not replace the page.
  window.addEventListener("dragover", (event) => event.preventDefault());
  window.addEventListener("drop", (event) => event.preventDefault());
  $("clear-finished").addEventListener("click", () => {
    for (let i = uploads.length - 1; i >= 0; i -= 1) {
      const item = uploads[i];
      if (["refused", "ready", "failed"].includes(item.state)) {
        item.node.remove();
        uploads.splice(i, 1);
        if (item.doc) uploadsByDoc.delete(item.doc.id);
      }
    }
    if (uploads.length === 0) $("uploads").hidden = true;
  });
  window.addEventListener("beforeunload", (event) => {
    if (inFlight > 0 || waiting.length > 0) event.preventDefault();
  });
}

// --- new version, retry

let versionTarget = null;

function pickVersion(id, opener) {
  versionTarget = { id, opener };
  $("version-input").click();
}

async function uploadVersion(file) {
  const target = versionTarget;
  versionTarget = null;
  if (!target || !file) return;
  $("uploads").hidden = false;
  const item = { file, label: file.name, state: "uploading", doc: null };
  item.node = element("li", { className: "upload-item" });
  item.name = element("span", { className: "upload-name", text: file.name });
  item.size = element("span", { className: "upload-size", text: formatSize(file.size) });
  item.bar = element("progress", { attrs: { max: "100", value: "0", "aria-label": t("documents_upload_progress", { name: file.name }) } });
  item.text = element("span", { className: "upload-state" });
  item.node.append(item.name, item.size, item.bar, item.text);
  $("upload-list").append(item.node);
  uploads.push(item);
  const form = new FormData();
  form.append("file", file, file.name);
  const { status, body } = await send(`/v1/documents/${encodeURIComponent(target.id)}/versions`, form, (loaded, total) => setUploading(item, (100 * loaded) / total));
  if (status === 202 && body) {
    setUploadDocument(item, body);
    updateDocument(body);
    watch(body.id);
    announce(t("documents_new_version_sent", { name: body.filename }));
  } else {
    refuse(item, body && typeof body.detail === "string" ? body.detail : status === 0 ? W.network_error : `HTTP ${status}`);
  }
  target.opener?.focus();
}

async function retry(id) {
  try {
    const doc = await api("POST", `/v1/documents/${encodeURIComponent(id)}/retry`);
    updateDocument(doc);
    watch(doc.id);
    announce(t("documents_retried", { name: doc.filename }));
    rows.get(doc.id)?.querySelector(".actions button")?.focus();
  } catch (error) {
    showError(error);
  }
}

// --- delete

let deleteTarget = null;

function askDelete(id, opener) {
  const doc = state.docs.get(id);
  if (!doc) return;
  deleteTarget = { doc, opener };
  $("delete-text").textContent = t("documents_delete_confirm", { name: doc.filename });
  $("delete-dialog").showModal();
  $("delete-cancel").focus();
}

async function confirmDelete() {
  const target = deleteTarget;
  $("delete-dialog").close();
  if (!target) return;
  try {
    await api("DELETE", `/v1/documents/${encodeURIComponent(target.doc.id)}`);
    watching.delete(target.doc.id);
    announce(t("documents_deleted", { name: target.doc.filename }));
    await refreshList();
    $("filter-q").focus();
  } catch (error) {
    showError(error);
    target.opener?.focus();
  }
}

// --- access

const access = { doc: null, opener: null, chosen: new Map() }; // "user:id" -> {kind, id, name}
let findTimer = null;

async function openAccess(id, opener) {
  const doc = state.docs.get(id);
  if (!doc) return;
  access.doc = doc;
  access.opener = opener;
  access.chosen.clear();
  $("access-title").textContent = t("documents_access_title", { name: doc.filename });
  $("access-error").textContent = "";
  $("access-find").value = "";
  $("access-results").replaceChildren();
  const others = doc.access.users.filter((u) => u !== doc.owner_id);
  const mode = doc.access.everyone ? "everyone" : others.length + doc.access.groups.length ? "some" : "owner";
  for (const radio of document.querySelectorAll('#access-form input[name="mode"]')) radio.checked = radio.value === mode;
  showPeople();
  $("access-dialog").showModal();
  document.querySelector('#access-form input[name="mode"]:checked')?.focus();
  if (others.length || doc.access.groups.length) {
    const params = new URLSearchParams();
    for (const u of others) params.append("user", u);
    for (const g of doc.access.groups) params.append("group", g);
    try {
      const found = await api("GET", `/v1/directory?${params}`);
      const names = new Map([...found.users.map((e) => [`user:${e.id}`, e.name]), ...found.groups.map((e) => [`group:${e.id}`, e.name])]);
      for (const u of others) access.chosen.set(`user:${u}`, { kind: "user", id: u, name: names.get(`user:${u}`) || t("documents_unknown") });
      for (const g of doc.access.groups) access.chosen.set(`group:${g}`, { kind: "group", id: g, name: names.get(`group:${g}`) || t("documents_unknown") });
    } catch (error) {
      $("access-error").textContent = reasonOf(error);
    }
  }
  renderChosen();
}

function showPeople() {
  const mode = document.querySelector('#access-form input[name="mode"]:checked')?.value;
  $("access-people").hidden = mode !== "some";
}

function chip(entry, actionText, onClick) {
  const kind = t(entry.kind === "user" ? "documents_access_user" : "documents_access_group");
  return element("li", {}, [
    element("span", { className: "chip-name", text: entry.name }),
    element("span", { className: "chip-kind", text: kind }),
    button(actionText === "add" ? "+" : "×", {
      className: "chip-button",
      label: t(actionText === "add" ? "documents_access_add" : "documents_access_remove", { name: entry.name }),
      onClick,
    }),
  ]);
}

function renderChosen() {
  const list = $("access-chosen");
  list.replaceChildren();
  for (const [key, entry] of access.chosen) {
    list.append(
      chip(entry, "remove", () => {
        access.chosen.delete(key);
        renderChosen();
        $("access-find").focus();
      }),
    );
  }
  if (access.chosen.size === 0) list.append(element("li", { className: "muted", text: t("documents_access_none_chosen") }));
}

async function findPeople() {
  const q = $("access-find").value.trim();
  const list = $("access-results");
  if (!q) {
    list.replaceChildren();
    return;
  }
  try {
    const found = await api("GET", `/v1/directory?${new URLSearchParams({ q, limit: "10" })}`);
    if ($("access-find").value.trim() !== q) return;
    list.replaceChildren();
    const entries = [...found.users.map((e) => ({ kind: "user", ...e })), ...found.groups.map((e) => ({ kind: "group", ...e }))];
    for (const entry of entries) {
      const key = `${entry.kind}:${entry.id}`;
      if (access.chosen.has(key) || (entry.kind === "user" && entry.id === access.doc.owner_id)) continue;
      list.append(
        chip(entry, "add", () => {
          access.chosen.set(key, entry);
          renderChosen();
          findPeople();
          $("access-find").focus();
        }),
      );
    }
    if (!list.children.length) list.append(element("li", { className: "muted", text: t("documents_access_no_match") }));
  } catch (error) {
    $("access-error").textContent = reasonOf(error);
  }
}

async function saveAccess(event) {
  event.preventDefault();
  const doc = access.doc;
  const mode = document.querySelector('#access-form input[name="mode"]:checked')?.value || "owner";
  const owner = doc.owner_id || USER_ID;
  const users = [];
  const groups = [];
  for (const entry of access.chosen.values()) (entry.kind === "user" ? users : groups).push(entry.id);
  let spec;
  if (mode === "everyone") spec = { everyone: true, users: [], groups: [] };
  else if (mode === "some" && users.length + groups.length) spec = { everyone: false, users, groups };
  else spec = { everyone: false, users: [owner], groups: [] };
  try {
    const response = await fetch(`/v1/documents/${encodeURIComponent(doc.id)}/access`, {
      method: "PATCH",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRF-Token": document.querySelector('meta[name="csrf-token"]')?.content ?? "" },
      body: JSON.stringify(spec),
    });
    const body = await response.json().catch(() => null);
    if (!response.ok) {
      $("access-error").textContent = response.status === 403 ? t("documents_not_allowed") : body && typeof body.detail === "string" ? body.detail : `HTTP ${response.status}`;
      return;
    }
    $("access-dialog").close();
    updateDocument(body);
    announce(t(response.status === 202 ? "documents_access_pending" : "documents_access_saved", { name: body.filename }));
  } catch (error) {
    $("access-error").textContent = reasonOf(error);
  }
}

// --- start

function setUpList() {
  const form = $("filters");
  const apply = () => {
    state.q = $("filter-q").value.trim();
    state.status = $("filter-status").value;
    state.type = $("filter-type").value;
    state.tag = $("filter-tag").value.trim();
    state.offset = 0;
    refreshList();
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    apply();
  });
  form.addEventListener("reset", () => setTimeout(apply, 0));
  for (const id of ["filter-status", "filter-type"]) $(id).addEventListener("change", apply);
  let typing = null;
  $("filter-q").addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(apply, 350);
  });
  $("prev-page").addEventListener("click", () => {
    state.offset = Math.max(0, state.offset - CONFIG.pageSize);
    refreshList();
  });
  $("next-page").addEventListener("click", () => {
    state.offset += CONFIG.pageSize;
    refreshList();
  });
}

function setUpDialogs() {
  $("delete-cancel").addEventListener("click", () => $("delete-dialog").close());
  $("delete-confirm").addEventListener("click", confirmDelete);
  $("delete-dialog").addEventListener("close", () => {
    if (deleteTarget && document.activeElement === document.body) deleteTarget.opener?.focus();
  });
  $("access-cancel").addEventListener("click", () => $("access-dialog").close());
  $("access-dialog").addEventListener("close", () => {
    if (access.opener?.isConnected) access.opener.focus();
    else rows.get(access.doc?.id)?.querySelector(".actions button")?.focus();
  });
  $("access-form").addEventListener("submit", saveAccess);
  $("access-form").addEventListener("change", (event) => {
    if (event.target.name === "mode") showPeople();
  });
  $("access-find").addEventListener("input", () => {
    clearTimeout(findTimer);
    findTimer = setTimeout(findPeople, 250);
  });
  $("access-find").addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault(); // Enter searches, it does not save
      clearTimeout(findTimer);
      findPeople();
    }
  });
  $("version-input").addEventListener("change", (event) => {
    uploadVersion(event.target.files[0]);
    event.target.value = "";
  });
}

readFiltersFromUrl();
setUpUploads();
setUpList();
setUpDialogs();
refreshList();
