// The portal's one way to talk to Zhiku's JSON API: the session cookie authenticates, every
// changing request carries the page's CSRF token, and an error becomes one readable message.
// Pages import it as an ES module: import { api, stream, words } from "/static/js/api.js".

const csrfToken = () => document.querySelector('meta[name="csrf-token"]')?.content ?? "";

// The page's translated words, rendered by the server into
// <script type="application/json" id="zhiku-words">.
export function words() {
  const node = document.getElementById("zhiku-words");
  return node ? JSON.parse(node.textContent) : {};
}

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

// The API's error shape is {"detail": "..."} (or a list of validation errors).
function messageOf(status, body) {
  const detail = body && body.detail;
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail) && detail.length) {
    // Each field error names its field (the last part of its location), then why.
    return detail
      .map((d) => {
        const field = d && Array.isArray(d.loc) ? d.loc.filter((part) => part !== "body").pop() : null;
        const why = (d && d.msg) || String(d);
        return field !== null && field !== undefined ? `${field}: ${why}` : why;
      })
      .join("; ");
  }
  return `HTTP ${status}`;
}

async function failure(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  return new ApiError(response.status, messageOf(response.status, body), body);
}

function headersFor(method, body, extra) {
  // The server words its reasons (why a file failed, why a request was refused) in the page's
  // language (api/reasons.py).
  const language = document.documentElement.lang || navigator.language || "en";
  const headers = { Accept: "application/json", "Accept-Language": language, ...extra };
  if (method !== "GET" && method !== "HEAD") headers["X-CSRF-Token"] = csrfToken();
  if (body !== undefined && !(body instanceof FormData)) headers["Content-Type"] = "application/json";
  return headers;
}

// A JSON request: resolves with the parsed body (null for 204), rejects with ApiError.
export async function api(method, path, body, { signal, headers } = {}) {
  const response = await fetch(path, {
    method,
    credentials: "same-origin",
    headers: headersFor(method, body, headers),
    body: body === undefined ? undefined : body instanceof FormData ? body : JSON.stringify(body),
    signal,
  });
  if (!response.ok) throw await failure(response);
  return response.status === 204 ? null : response.json();
}

// A POST answered with Server-Sent Events (the chat): calls onEvent(name, data) for each
// event as it arrives; abort with the AbortSignal to stop generating.
export async function stream(path, body, onEvent, { signal } = {}) {
  const response = await fetch(path, {
    method: "POST",
    credentials: "same-origin",
    headers: headersFor("POST", body, { Accept: "text/event-stream" }),
    body: JSON.stringify(body),
    signal,
  });
  if (!response.ok) throw await failure(response);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
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
