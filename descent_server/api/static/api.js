// The HTTP side of the dashboard: the API key, JSON calls, error details and the event stream.
// Paths are relative ("v1/...") so the page works wherever the server mounts it.

const KEY_STORAGE = "descent.apiKey";
const authListeners = new Set();

// The API's statuses (queued and running are live, the rest final) and run kinds, spelled once.
export const STATUSES = ["queued", "running", "succeeded", "diverged", "failed", "cancelled", "pruned"];
export const FINAL_STATUSES = new Set(STATUSES.slice(2));
export const KINDS = { linear_regression: "linear regression", mlp_classifier: "MLP classifier",
  mlp_regressor: "MLP regressor" };

/** Return true for the Keras kinds (their hyperparameters: layers, optimizer, snapshots...). */
export function isMlp(kind) {
  return kind === "mlp_classifier" || kind === "mlp_regressor";
}

export function getKey() {
  try {
    return localStorage.getItem(KEY_STORAGE) || "";
  } catch {
    return "";
  }
}

export function setKey(key) {
  try {
    if (key) localStorage.setItem(KEY_STORAGE, key);
    else localStorage.removeItem(KEY_STORAGE);
  } catch {
    // Private browsing can refuse storage; the key then lasts for this page only.
  }
}

/** Call `fn(status)` whenever the server answers 401. */
export function onAuthNeeded(fn) {
  authListeners.add(fn);
}

export class ApiError extends Error {
  constructor(status, detail) {
    super(formatDetail(detail) || `HTTP ${status}`);
    this.status = status;
    this.detail = detail;
  }
}

/** Turn an API `detail` (a string or a list of {loc, msg}) into one readable line per problem. */
export function formatDetail(detail) {
  if (detail == null) return "";
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    return detail
      .map((d) => {
        if (typeof d === "string") return d;
        const loc = (d.loc || []).filter((p) => p !== "body").join(".");
        return loc ? `${loc}: ${d.msg}` : d.msg || JSON.stringify(d);
      })
      .join("\n");
  }
  return JSON.stringify(detail);
}

export function apiUrl(path, params) {
  const url = new URL(path.replace(/^\//, ""), document.baseURI);
  // A list repeats the parameter (?tag=a&tag=b).
  for (const [k, v] of Object.entries(params || {})) {
    for (const one of Array.isArray(v) ? v : [v]) {
      if (one !== undefined && one !== null && one !== "") url.searchParams.append(k, String(one));
    }
  }
  return url;
}

function authHeaders(extra) {
  const headers = new Headers(extra || {});
  const key = getKey();
  if (key) headers.set("Authorization", `Bearer ${key}`);
  return headers;
}

async function errorFrom(res) {
  let detail = res.statusText;
  try {
    const body = await res.json();
    if (body && body.detail !== undefined) detail = body.detail;
  } catch {
    // Not JSON (a proxy error page): the status text is all we have.
  }
  if (res.status === 401) authListeners.forEach((fn) => fn(res.status));
  return new ApiError(res.status, detail);
}

/**
 * Call the API and return the parsed JSON (null for 204).
 * Options: method, body (object → JSON, FormData → multipart), params, headers, signal, etag.
 * With `etag`, a 304 answer returns {notModified: true}; the new tag is in result.etag.
 */
export async function api(path, options = {}) {
  const headers = authHeaders(options.headers);
  let body = options.body;
  if (body !== undefined && !(body instanceof FormData)) {
    headers.set("Content-Type", "application/json");
    body = JSON.stringify(body);
  }
  if (options.etag) headers.set("If-None-Match", options.etag);
  const res = await fetch(apiUrl(path, options.params), {
    method: options.method || "GET",
    headers,
    body,
    signal: options.signal,
    cache: "no-store",
  });
  if (res.status === 304) return { notModified: true };
  if (!res.ok) throw await errorFrom(res);
  if (res.status === 204) return null;
  const data = await res.json();
  if (options.etag !== undefined && data && typeof data === "object") {
    Object.defineProperty(data, "etag", { value: res.headers.get("ETag"), enumerable: false });
  }
  return data;
}

/** GET a binary body (a PNG or GIF plot) with the key; an <img> cannot send the header. */
export async function apiBlob(path, params, signal) {
  const res = await fetch(apiUrl(path, params), { headers: authHeaders(), signal });
  if (!res.ok) throw await errorFrom(res);
  return res.blob();
}

/** GET a text body (CSV) with the key. */
export async function apiText(path, params, signal) {
  const res = await fetch(apiUrl(path, params), { headers: authHeaders(), signal });
  if (!res.ok) throw await errorFrom(res);
  return res.text();
}

/**
 * Read `GET v1/runs/{id}/events` with fetch (EventSource cannot send the Authorization header)
 * and call onEvent({event, data, id}) per message. Resolves when the server ends the stream.
 */
export async function streamEvents(runId, lastEventId, onEvent, signal) {
  const headers = authHeaders({ Accept: "text/event-stream" });
  if (lastEventId !== null && lastEventId !== undefined && lastEventId >= 0) {
    headers.set("Last-Event-ID", String(lastEventId));
  }
  const res = await fetch(apiUrl(`v1/runs/${encodeURIComponent(runId)}/events`), {
    headers,
    signal,
    cache: "no-store",
  });
  if (!res.ok) throw await errorFrom(res);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  const parser = sseParser(onEvent);
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    parser(value);
  }
}

/** Return a function fed with text chunks that emits parsed SSE messages. */
export function sseParser(onEvent) {
  let buffer = "";
  let event = "message";
  let data = [];
  let id = null;
  const dispatch = () => {
    if (data.length) {
      const text = data.join("\n");
      let parsed = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // Leave non-JSON data as text.
      }
      onEvent({ event, data: parsed, id });
    }
    event = "message";
    data = [];
  };
  return (chunk) => {
    buffer += chunk;
    // A chunk may end between "\r" and "\n": keep a trailing "\r" for the next chunk.
    const end = buffer.endsWith("\r") ? buffer.length - 1 : buffer.length;
    const lines = buffer.slice(0, end).replace(/\r\n?/g, "\n").split("\n");
    buffer = lines.pop() + buffer.slice(end);
    for (const line of lines) {
      if (line === "") {
        dispatch();
        continue;
      }
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "event") event = value;
      else if (field === "data") data.push(value);
      else if (field === "id") id = value;
    }
  };
}

/** Return a random id for Idempotency-Key (crypto.randomUUID needs a secure context). */
export function randomKey() {
  if (globalThis.crypto && crypto.randomUUID) return crypto.randomUUID();
  return `k-${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}

/** Parse CSV text (RFC 4180 quoting) into {header, rows}. */
export function parseCsv(text) {
  const rows = [];
  let row = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") {
      row.push(field);
      field = "";
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = "";
    } else field += c;
  }
  if (field !== "" || row.length) {
    row.push(field);
    rows.push(row);
  }
  const header = rows.shift() || [];
  return { header, rows: rows.filter((r) => r.length === header.length) };
}
