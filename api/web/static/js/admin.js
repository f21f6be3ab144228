// The admin console: every action is a call to the JSON API integrators use (/v1/admin/...,
// /v1/audit/...). Text from users (names, e-mails, key names, event details) is inserted
// with textContent only, never as HTML.
import { api, ApiError, words } from "/static/js/api.js";

const W = words();
const root = document.querySelector("[data-admin-section]");
const section = root.dataset.adminSection;
const selfId = root.dataset.self;
const lang = document.documentElement.lang || "en";
const PAGE = 50;
const dateTime = new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeStyle: "short" });
const count = new Intl.NumberFormat(lang);

// --- small helpers

function t(key, values = {}) {
  const text = W[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ""));
}

function el(tag, { text, cls, attrs } = {}, ...children) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  for (const [name, value] of Object.entries(attrs ?? {})) node.setAttribute(name, value);
  for (const child of children) if (child) node.append(child);
  return node;
}

// A button whose accessible name adds the row's subject ("Disable" + " alice"), so that a
// screen reader's list of buttons tells the rows apart.
function rowButton(label, subject, onClick, cls) {
  const button = el("button", { cls: cls ?? "small secondary", attrs: { type: "button" } });
  button.append(document.createTextNode(label), el("span", { text: ` ${subject}`, cls: "visually-hidden" }));
  button.addEventListener("click", () => onClick(button));
  return button;
}

function when(value) {
  return value ? dateTime.format(new Date(value)) : "—";
}

const statusLine = document.getElementById("admin-status");
const errorLine = document.getElementById("admin-error");

function say(text) {
  errorLine.hidden = true;
  statusLine.textContent = text;
}

function fail(error) {
  let text;
  if (error instanceof ApiError) {
    if (error.status === 403) text = t("admin_err_forbidden", { detail: error.message });
    else if (error.status === 409) text = t("admin_err_conflict", { detail: error.message });
    else if (error.status === 404) text = t("admin_err_missing");
    else text = t("admin_err_generic", { detail: error.message });
  } else {
    text = t("admin_err_network");
  }
  statusLine.textContent = "";
  errorLine.textContent = text;
  errorLine.hidden = false;
}

// Runs an action, reporting its failure in the page's alert line.
async function attempt(action) {
  try {
    return await action();
  } catch (error) {
    fail(error);
    return undefined;
  }
}

function fill(tbody, rows, columns, empty) {
  tbody.replaceChildren();
  if (!rows.length) {
    tbody.append(el("tr", {}, el("td", { text: empty, attrs: { colspan: String(columns) } })));
    return;
  }
  for (const row of rows) tbody.append(row);
}

function cell(content) {
  const td = el("td");
  if (content instanceof Node) td.append(content);
  else td.textContent = content ?? "—";
  return td;
}

// Previous / next for a paged list; ``load(offset)`` fetches a page whose ``draw()`` shows it.
function pager(name, load) {
  const box = document.querySelector(`[data-pager="${name}"]`);
  let offset = 0;
  const previous = el("button", { text: t("admin_previous"), cls: "secondary small", attrs: { type: "button" } });
  const next = el("button", { text: t("admin_next"), cls: "secondary small", attrs: { type: "button" } });
  const where = el("span", { attrs: { "aria-live": "polite" } });
  box.append(previous, where, next);
  let ticket = 0;  // only the newest request draws: a slow older answer is dropped
  const go = async (to) => {
    const mine = ++ticket;
    const page = await attempt(() => load(to));
    if (!page || mine !== ticket) return;
    page.draw?.();
    offset = to;
    const last = Math.min(page.count, offset + page.data.length);
    where.textContent = page.count ? t("admin_range", { first: offset + 1, last, count: page.count }) : "";
    previous.disabled = offset === 0;
    next.disabled = offset + PAGE >= page.count;
  };
  previous.addEventListener("click", () => go(Math.max(0, offset - PAGE)));
  next.addEventListener("click", () => go(offset + PAGE));
  return { reload: () => go(offset), first: () => go(0) };
}

// --- dialogs: focus moves in, Escape cancels, focus returns to the opener

function openDialog(dialog, opener) {
  dialog.showModal();
  dialog.addEventListener("close", () => opener?.isConnected && opener.focus(), { once: true });
}

function confirmAction(text, verb, opener) {
  const dialog = document.getElementById("confirm-dialog");
  document.getElementById("confirm-text").textContent = text;
  document.getElementById("confirm-ok").textContent = verb;
  dialog.returnValue = "";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "confirm"), { once: true });
    openDialog(dialog, opener);
    dialog.querySelector('button[value="cancel"]').focus();
  });
}

// A secret's only showing (a new key, a generated password), with a copy button.
function showSecret(title, label, value, opener) {
  const dialog = document.getElementById("secret-dialog");
  document.getElementById("secret-title").textContent = title;
  document.getElementById("secret-label").textContent = label;
  const input = document.getElementById("secret-value");
  input.value = value;
  document.getElementById("secret-copied").textContent = "";
  dialog.addEventListener("close", () => { input.value = ""; }, { once: true });
  openDialog(dialog, opener);
  input.focus();
  input.select();
}

function wireSecretDialog() {
  const copy = document.getElementById("secret-copy");
  if (!copy) return;
  copy.addEventListener("click", async () => {
    const input = document.getElementById("secret-value");
    const done = document.getElementById("secret-copied");
    try {
      await navigator.clipboard.writeText(input.value);
      done.textContent = t("admin_copied");
    } catch {
      input.select();
      done.textContent = t("admin_copy_manually");
    }
  });
}

// Users found by name, each with one action button.
async function findUsers(q, list, verb, onPick) {
  const page = await attempt(() => api("GET", `/v1/admin/users?limit=20&q=${encodeURIComponent(q)}`));
  if (!page) return;
  list.replaceChildren();
  if (!page.data.length) list.append(el("li", { text: t("admin_no_match") }));
  for (const user of page.data) {
    const item = el("li", {}, el("span", { text: user.name }));
    item.append(rowButton(verb, user.name, (button) => onPick(user, button)));
    list.append(item);
  }
}

function roleNames(user) {
  const roles = [];
  if (user.is_admin) roles.push(t("admin_role_admin"));
  if (user.is_auditor) roles.push(t("admin_role_auditor"));
  return roles.length ? roles.join(lang.startsWith("zh") ? "、" : ", ") : t("admin_role_member");
}

// --- users

// The policy's refusals in the page's own words (the API words them in the page's language
// too: either is recognised); anything else as the API words it.
function passwordProblem(error) {
  if (!(error instanceof ApiError)) return t("admin_err_network");
  if (error.status === 400 && /username|用户名|使用者名稱/.test(error.message)) return t("admin_password_is_name");
  if (error.status === 400 && /at (least|most)|至少|最多/.test(error.message)) return t("admin_password_rule");
  return t("admin_err_generic", { detail: error.message });
}

function usersSection() {
  const tbody = document.querySelector("#users-table tbody");
  let q = "";
  const dialog = document.getElementById("password-dialog");
  const form = document.getElementById("password-form");
  const own = document.getElementById("password-own");
  const passwordError = document.getElementById("password-error");
  let target = null;
  let opener = null;

  const row = (user) => {
    const actions = el("td", { cls: "actions" });
    if (user.id !== selfId) {
      if (user.disabled) {
        actions.append(rowButton(t("admin_enable"), user.name, () => toggle(user, false)));
      } else {
        actions.append(rowButton(t("admin_disable"), user.name, (b) => toggle(user, true, b), "small danger"));
      }
      actions.append(rowButton(
        user.is_admin ? t("admin_role_drop") : t("admin_role_grant"), user.name, () => setAdmin(user)));
    }
    if (!user.is_admin && !user.is_auditor) {
      actions.append(rowButton(t("admin_password_reset"), user.name, (b) => resetPassword(user, b)));
    }
    const keys = el("a", { text: t("admin_keys"), attrs: { href: `/admin/keys?user=${encodeURIComponent(user.id)}` } });
    keys.append(el("span", { text: ` ${user.name}`, cls: "visually-hidden" }));
    actions.append(keys);
    const state = user.disabled ? t("admin_disabled") : t("admin_active");
    return el("tr", { attrs: { "data-user": user.id } },
      el("th", { text: user.name, attrs: { scope: "row" } }), cell(user.email), cell(roleNames(user)),
      cell(el("span", { text: state, cls: user.disabled ? "badge off" : "badge on" })),
      cell(when(user.created_at)), actions);
  };

  const list = pager("users", async (offset) => {
    const query = q ? `&q=${encodeURIComponent(q)}` : "";
    const page = await api("GET", `/v1/admin/users?offset=${offset}&limit=${PAGE}${query}`);
    return { ...page, draw: () => fill(tbody, page.data.map(row), 6, t("admin_no_users")) };
  });

  async function toggle(user, disable, button) {
    if (disable && !(await confirmAction(t("admin_disable_confirm", { name: user.name }), t("admin_disable"), button))) return;
    const done = await attempt(() => api("POST", `/v1/admin/users/${user.id}/${disable ? "disable" : "enable"}`));
    if (done) {
      say(t(disable ? "admin_disabled_done" : "admin_enabled_done", { name: user.name }));
      list.reload();
    }
  }

  async function setAdmin(user) {
    const body = { is_admin: !user.is_admin, is_auditor: user.is_auditor };
    const done = await attempt(() => api("PUT", `/v1/admin/users/${user.id}/roles`, body));
    if (done) {
      say(t("admin_roles_done", { name: user.name }));
      list.reload();
    }
  }

  function resetPassword(user, button) {
    target = user;
    opener = button;
    form.reset();
    own.hidden = true;
    passwordError.hidden = true;
    document.getElementById("password-title").textContent = t("admin_password_title", { name: user.name });
    openDialog(dialog, button);
  }

  form.addEventListener("change", () => {
    own.hidden = form.elements.mode.value !== "set";
    document.getElementById("password-new").required = !own.hidden;
  });
  dialog.querySelector("[data-close]").addEventListener("click", () => dialog.close());
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = form.elements.mode.value === "set" ? { password: form.elements.password.value } : {};
    try {
      const issued = await api("POST", `/v1/admin/users/${target.id}/password`, body);
      dialog.close();
      say(t("admin_password_done", { name: target.name, sessions: issued.sessions_ended }));
      if (issued.password) {
        showSecret(t("admin_password_generated", { name: target.name }), t("admin_password_new"), issued.password, opener);
      }
    } catch (error) {
      passwordError.textContent = passwordProblem(error);
      passwordError.hidden = false;
    }
  });

  document.getElementById("user-search").addEventListener("submit", (event) => {
    event.preventDefault();
    q = event.target.elements.q.value.trim();
    list.first();
  });
  document.getElementById("user-create").addEventListener("submit", async (event) => {
    event.preventDefault();
    const f = event.target;
    const body = { name: f.elements.name.value.trim(), is_admin: f.elements.is_admin.checked };
    if (f.elements.email.value.trim()) body.email = f.elements.email.value.trim();
    const user = await attempt(() => api("POST", "/v1/admin/users", body));
    if (user) {
      f.reset();
      say(t("admin_user_created", { name: user.name }));
      list.reload();
    }
  });
  list.first();
}

// --- groups

function groupsSection() {
  const tbody = document.querySelector("#groups-table tbody");
  const panel = document.getElementById("members-panel");
  const membersBody = document.querySelector("#members-table tbody");
  const candidates = document.getElementById("member-candidates");
  let current = null;

  const row = (group) => el("tr", {},
    el("th", { text: group.name, attrs: { scope: "row" } }), cell(String(group.member_count)),
    cell(when(group.created_at)),
    el("td", { cls: "actions" },
      rowButton(t("admin_members_manage"), group.name, () => openMembers(group)),
      rowButton(t("admin_group_delete"), group.name, (b) => remove(group, b), "small danger")));

  const list = pager("groups", async (offset) => {
    const page = await api("GET", `/v1/admin/groups?offset=${offset}&limit=${PAGE}`);
    return { ...page, draw: () => fill(tbody, page.data.map(row), 4, t("admin_no_groups")) };
  });

  const members = pager("members", async (offset) => {
    if (!current) return { data: [], count: 0 };
    const page = await api("GET", `/v1/admin/groups/${current.id}/members?offset=${offset}&limit=${PAGE}`);
    const draw = () => fill(membersBody, page.data.map((user) => el("tr", {},
      el("th", { text: user.name, attrs: { scope: "row" } }),
      cell(user.disabled ? t("admin_disabled") : t("admin_active")),
      el("td", { cls: "actions" }, rowButton(t("admin_member_remove"), user.name, () => setMember(user, false))))),
    3, t("admin_no_members"));
    return { ...page, draw };
  });

  function openMembers(group) {
    current = group;
    panel.hidden = false;
    document.getElementById("members-title").textContent = t("admin_members_of", { name: group.name });
    candidates.replaceChildren();
    members.first();
    panel.focus();
  }

  async function setMember(user, add) {
    const method = add ? "PUT" : "DELETE";
    const done = await attempt(async () => {
      await api(method, `/v1/admin/groups/${current.id}/members/${user.id}`);
      return true;
    });
    if (done) {
      say(t(add ? "admin_member_added" : "admin_member_removed", { name: user.name, group: current.name }));
      members.reload();
      list.reload();
    }
  }

  async function remove(group, button) {
    if (!(await confirmAction(t("admin_group_delete_confirm", { name: group.name }), t("admin_group_delete"), button))) return;
    const done = await attempt(async () => {
      await api("DELETE", `/v1/admin/groups/${group.id}`);
      return true;
    });
    if (done) {
      if (current?.id === group.id) {
        current = null;
        panel.hidden = true;
      }
      say(t("admin_group_deleted", { name: group.name }));
      list.reload();
    }
  }

  document.getElementById("member-search").addEventListener("submit", (event) => {
    event.preventDefault();
    findUsers(event.target.elements.q.value.trim(), candidates, t("admin_member_add"), (user) => setMember(user, true));
  });
  document.getElementById("group-create").addEventListener("submit", async (event) => {
    event.preventDefault();
    const group = await attempt(() => api("POST", "/v1/admin/groups", { name: event.target.elements.name.value.trim() }));
    if (group) {
      event.target.reset();
      say(t("admin_group_created", { name: group.name }));
      list.reload();
    }
  });
  list.first();
}

// --- keys

const ORIGIN = /^https?:\/\/[^\s/?#]+$/;

function keysSection() {
  const panel = document.getElementById("keys-panel");
  const tbody = document.querySelector("#keys-table tbody");
  const form = document.getElementById("key-create");
  let owner = null;

  const scopeName = (key) => t(`admin_scope_${["full", "chat", "upload"].includes(key.scope) ? key.scope : "full"}`);

  const row = (key) => {
    const label = key.name || key.prefix;
    const actions = el("td", { cls: "actions" });
    if (key.active) {
      actions.append(
        rowButton(t("admin_key_rotate"), label, (b) => rotate(key, b)),
        rowButton(t("admin_key_revoke"), label, (b) => revoke(key, b), "small danger"));
    }
    const origins = Array.isArray(key.allowed_origins) && key.allowed_origins.length
      ? key.allowed_origins.join(", ") : t("admin_origins_any");
    const state = key.revoked_at ? t("admin_key_revoked") : key.active ? t("admin_active") : t("admin_key_expired");
    return el("tr", { attrs: { "data-key": key.id } },
      el("th", { text: key.name || "—", attrs: { scope: "row" } }), cell(el("code", { text: key.prefix })),
      cell(scopeName(key)), cell(origins), cell(when(key.created_at)), cell(when(key.last_used_at)),
      cell(key.expires_at ? when(key.expires_at) : t("admin_never")),
      cell(el("span", { text: state, cls: key.active ? "badge on" : "badge off" })), actions);
  };

  async function load() {
    const page = await attempt(() => api("GET", `/v1/admin/users/${owner.id}/keys`));
    if (page) fill(tbody, page.data.map(row), 9, t("admin_no_keys"));
  }

  async function choose(user, focus = true) {
    owner = user;
    panel.hidden = false;
    document.getElementById("keys-title").textContent = t("admin_keys_of", { name: user.name });
    const mayIssue = !(user.is_admin || user.is_auditor) || user.id === selfId;
    form.hidden = !mayIssue;
    if (!mayIssue) say(t("admin_key_members_only"));
    await load();
    if (focus) panel.focus();
  }

  async function revoke(key, button) {
    const label = key.name || key.prefix;
    if (!(await confirmAction(t("admin_key_revoke_confirm", { name: label }), t("admin_key_revoke"), button))) return;
    const done = await attempt(async () => {
      await api("DELETE", `/v1/admin/keys/${key.id}`);
      return true;
    });
    if (done) {
      say(t("admin_key_revoked_done", { name: label }));
      load();
    }
  }

  async function rotate(key, button) {
    const label = key.name || key.prefix;
    if (!(await confirmAction(t("admin_key_rotate_confirm", { name: label }), t("admin_key_rotate"), button))) return;
    const issued = await attempt(() => api("POST", `/v1/admin/keys/${key.id}/rotate`));
    if (issued) {
      await load();
      showSecret(t("admin_key_issued", { name: label }), t("admin_key_value"), issued.key, button);
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const f = form.elements;
    const origins = f.allowed_origins.value.split(/[\s,]+/).map((o) => o.trim().replace(/\/+$/, "")).filter(Boolean);
    const bad = origins.find((o) => !ORIGIN.test(o));
    if (bad !== undefined) {
      fail(new ApiError(400, t("admin_origin_bad", { origin: bad })));
      return;
    }
    const body = { name: f.name.value.trim(), scope: f.scope.value, allowed_origins: origins };
    if (f.expires_in_days.value) body.expires_in_days = Number(f.expires_in_days.value);
    const issued = await attempt(() => createKey(body));
    if (issued) {
      form.reset();
      await load();
      showSecret(t("admin_key_issued", { name: issued.name || issued.id }), t("admin_key_value"), issued.key, form.querySelector('button[type="submit"]'));
    }
  });

  // A server from before key scopes refuses the two fields as unknown: a key meaning the
  // same (full scope, any origin) is then made without them; a narrower one is never
  // silently widened, and the admin is told instead.
  async function createKey(body) {
    const path = `/v1/admin/users/${owner.id}/keys`;
    try {
      return await api("POST", path, body);
    } catch (error) {
      const extra = error instanceof ApiError && error.status === 422 && Array.isArray(error.body?.detail)
        && error.body.detail.every((d) => d.type === "extra_forbidden");
      if (!extra) throw error;
      if (body.scope !== "full" || body.allowed_origins.length) {
        throw new ApiError(422, t("admin_key_scope_unsupported"));
      }
      const { scope, allowed_origins, ...plain } = body;
      return api("POST", path, plain);
    }
  }

  document.getElementById("key-user-search").addEventListener("submit", (event) => {
    event.preventDefault();
    findUsers(event.target.elements.q.value.trim(), document.getElementById("key-user-candidates"), t("admin_keys_show"), (user) => choose(user));
  });
  const wanted = new URLSearchParams(location.search).get("user");
  if (wanted && /^[A-Za-z0-9._:-]{1,64}$/.test(wanted)) {
    attempt(() => api("GET", `/v1/admin/users/${wanted}`)).then((user) => user && choose(user, false));
  }
}

// --- the audit trail

function auditSection() {
  const names = new Map();
  const nameOf = async (id) => {
    if (!id) return t("admin_operator");
    if (!names.has(id)) {
      names.set(id, api("GET", `/v1/admin/users/${encodeURIComponent(id)}`).then((u) => u.name, () => id));
    }
    return names.get(id);
  };
  const filter = document.getElementById("events-filter");
  const eventsBody = document.querySelector("#events-table tbody");

  const details = (event) => {
    const parts = Object.entries(event.details ?? {}).map(([k, v]) => `${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`);
    return parts.join("; ") || "—";
  };

  const events = pager("events", async (offset) => {
    const params = new URLSearchParams({ offset, limit: PAGE });
    const f = filter.elements;
    if (f.action.value) params.set("action", f.action.value);
    if (f.since.value) params.set("since", new Date(`${f.since.value}T00:00`).toISOString());
    if (f.until.value) {
      const end = new Date(`${f.until.value}T00:00`);
      end.setDate(end.getDate() + 1);
      params.set("until", end.toISOString());
    }
    const page = await api("GET", `/v1/audit/events?${params}`);
    const rows = await Promise.all(page.data.map(async (event) => {
      const target = event.target_type === "user" && event.target_id ? await nameOf(event.target_id) : event.target_id;
      return el("tr", {},
        cell(when(event.created_at)), el("th", { text: event.action, attrs: { scope: "row" } }),
        cell(await nameOf(event.actor_id)), cell(`${event.target_type}: ${target || "—"}`), cell(details(event)));
    }));
    return { ...page, draw: () => fill(eventsBody, rows, 5, t("admin_no_events")) };
  });
  filter.addEventListener("submit", (event) => {
    event.preventDefault();
    events.first();
  });
  events.first();

  const answersBody = document.querySelector("#answers-table tbody");
  const note = document.getElementById("answers-note");
  const box = document.querySelector('[data-pager="answers"]');
  const answers = pager("answers", async (offset) => {
    try {
      const page = await api("GET", `/v1/audit/answers?offset=${offset}&limit=${PAGE}`);
      const rows = await Promise.all(page.data.map(async (record) => el("tr", {},
        cell(when(record.created_at)), cell(await nameOf(record.user_id)), cell(record.endpoint),
        cell(record.outcome), cell(`${record.latency_ms} ms`),
        cell(record.redacted ? t("admin_redacted") : record.question))));
      return {
        ...page,
        draw: () => {
          note.textContent = page.redacted ? t("admin_answers_redacted") : "";
          fill(answersBody, rows, 6, t("admin_no_answers"));
        },
      };
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 403)) throw error;
      const draw = () => {
        note.textContent = t("admin_answers_forbidden");
        document.getElementById("answers-wrap").hidden = true;
        box.hidden = true;
      };
      return { data: [], count: 0, draw };
    }
  });
  answers.first();
}

// --- the organisation

async function organisationSection() {
  const tenant = await attempt(() => api("GET", "/v1/admin/tenant"));
  if (!tenant) return;
  for (const node of document.querySelectorAll("[data-fact]")) {
    const name = node.dataset.fact;
    const value = tenant[name];
    node.textContent = name === "created_at" ? when(value) : typeof value === "number" ? count.format(value) : value;
  }
  settingsForm();
}

// The organisation's settings: read, edited in one form, saved with one PUT (audited).
async function settingsForm() {
  const form = document.getElementById("settings-form");
  const name = document.getElementById("settings-display-name");
  const language = document.getElementById("settings-language");
  const updated = document.getElementById("settings-updated");
  const show = (settings) => {
    name.value = settings.display_name ?? "";
    for (const radio of form.elements.default_access) radio.checked = radio.value === settings.default_access;
    language.value = settings.default_language ?? "";
    updated.textContent = settings.updated_at ? t("admin_settings_updated", { when: when(settings.updated_at) }) : "";
  };
  const current = await attempt(() => api("GET", "/v1/admin/tenant/settings"));
  if (!current) return;
  show(current);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = {
      display_name: name.value.trim(),
      default_access: form.elements.default_access.value || "owner",
      default_language: language.value || null,
    };
    const saved = await attempt(() => api("PUT", "/v1/admin/tenant/settings", body));
    if (!saved) return;
    show(saved);
    say(t("admin_settings_saved"));
  });
}

wireSecretDialog();
({ users: usersSection, groups: groupsSection, keys: keysSection, audit: auditSection, organisation: organisationSection })[section]();
