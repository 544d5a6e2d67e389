// Small DOM helpers shared by the views.

import { KINDS } from "./api.js";

/** Create an element: h("button", {type: "button", onclick: fn}, "text", child...). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else if (k in el && typeof v !== "string") el[k] = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

/** Resolve after ms, or reject with AbortError when the signal fires. */
export function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal && signal.aborted) return reject(new DOMException("aborted", "AbortError"));
    const t = setTimeout(resolve, ms);
    if (signal) {
      signal.addEventListener("abort", () => {
        clearTimeout(t);
        reject(new DOMException("aborted", "AbortError"));
      }, { once: true });
    }
  });
}

export function isAbort(err) {
  return err && err.name === "AbortError";
}

export function statusBadge(status) {
  return h("span", { class: `badge status-${status}`, "data-status": status }, status);
}

export function when(iso, short = false) {
  if (!iso) return "–";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return short ? d.toLocaleString(undefined, { dateStyle: "short", timeStyle: "short" }) : d.toLocaleString();
}

/** Show an error (ApiError or text) in a role=alert box; clear it with null. */
export function showError(box, err) {
  if (!err) {
    box.hidden = true;
    box.textContent = "";
    return;
  }
  box.hidden = false;
  const status = err.status ? `HTTP ${err.status}: ` : "";
  box.textContent = `${status}${err.message || err}`;
}

export function kindLabel(kind) {
  return KINDS[kind] || kind;
}

export function runTitle(run) {
  return run.name || `${kindLabel(run.kind)} on ${run.dataset_id}`;
}
