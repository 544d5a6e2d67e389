// What the across-runs views show of a run: its key hyperparameters, final metrics, duration,
// dataset name and the label a sweep gives it (the swept values, not only the learning rate).

import { api } from "./api.js";
import { fmt } from "./charts.js";
import { h } from "./dom.js";

/** Return the value at a dotted name ("optimizer.learning_rate") of a nested object. */
export function dig(obj, dotted) {
  if (obj && Object.prototype.hasOwnProperty.call(obj, dotted)) return obj[dotted];
  return dotted.split(".").reduce((o, k) => (o === null || o === undefined ? undefined : o[k]), obj);
}

export function learningRate(run) {
  const hp = run.hyperparameters || {};
  return hp.learning_rate ?? hp.optimizer?.learning_rate;
}

/** Format any hyperparameter value: numbers compactly, lists as 40-40, objects by their fields. */
export function fmtValue(v) {
  if (v === null || v === undefined) return "–";
  if (typeof v === "number") return fmt(v);
  if (Array.isArray(v)) return v.every((x) => typeof x === "number") ? v.join("-") || "[]" : v.map(fmtValue).join(", ");
  if (typeof v === "object") {
    const { name, ...rest } = v;
    const inner = Object.entries(rest).map(([k, x]) => `${shortName(k)}=${fmtValue(x)}`).join(", ");
    return name ? (inner ? `${name} (${inner})` : String(name)) : `{${inner}}`;
  }
  return String(v);
}

const SHORT = { learning_rate: "lr", hidden_layers: "layers", batch_size: "batch" };

/** Return a short column or legend name for a dotted hyperparameter name. */
export function shortName(dotted) {
  if (SHORT[dotted]) return SHORT[dotted];
  const parts = dotted.split(".");
  const last = parts[parts.length - 1];
  // "optimizer.name" says more than "name"; "optimizer.learning_rate" reads best as "lr".
  if (last === "name" && parts.length > 1) return parts[parts.length - 2];
  return SHORT[last] || last;
}

/** Return the swept values of a sweep's run: its `swept`, else looked up from the sweep's axes. */
export function sweptValues(run, axisNames) {
  if (run.swept && Object.keys(run.swept).length) return run.swept;
  return Object.fromEntries(axisNames.map((name) => [name, dig(run.hyperparameters || {}, name)]));
}

/** Label a sweep's run by every swept value, e.g. "optimizer=adam, lr=0.01". */
export function sweptLabel(run, axisNames) {
  const swept = sweptValues(run, axisNames);
  const names = axisNames.length ? axisNames : Object.keys(swept);
  const label = names.map((n) => `${shortName(n)}=${fmtValue(swept[n])}`).join(", ");
  return label || run.name || run.id.slice(0, 8);
}

/** Return the final value of a metric (null when the run has none). */
export function metric(run, name) {
  const m = run.metrics || {};
  if (m[name] !== undefined) return m[name];
  if (name === "loss") return run.result?.final_loss ?? null;
  return null;
}

/** Format a duration in seconds as 42 s, 3 min 5 s or 1 h 2 min. */
export function fmtDuration(s) {
  if (s === null || s === undefined || !Number.isFinite(s)) return "–";
  if (s < 1) return `${Math.round(s * 1000)} ms`;
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s % 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

/** Return a long name as text with break chances after "=" and a dot between words (<wbr>). */
export function breakable(text) {
  return String(text).split(/(?<==)|(?<=[A-Za-z_]\.)(?=[A-Za-z_])/).flatMap((part, i) => (i ? [h("wbr"), part] : [part]));
}

export function tagChips(tags, onClick) {
  return (tags || []).map((t) => onClick
    ? h("button", { type: "button", class: "tag", title: `Show runs tagged ${t}`, onclick: () => onClick(t) }, t)
    : h("span", { class: "tag" }, t));
}

const namesCache = new Map();
let namesFetched = 0;

/** Return a map dataset id → name of uploaded datasets, fetched again when `ids` has a new one. */
export async function datasetNames(signal, ids = []) {
  const missing = ids.some((id) => !id.startsWith("builtin:") && !namesCache.has(id));
  if (namesFetched && (!missing || Date.now() - namesFetched < 10_000)) return namesCache;
  namesFetched = Date.now();
  try {
    const body = await api("v1/datasets", { params: { limit: 100 }, signal });
    for (const d of body.items || []) namesCache.set(d.id, d.name || d.filename || d.id);
  } catch (err) {
    if (err.name === "AbortError") throw err;
    // Names are a nicety: the ids still identify the datasets.
  }
  return namesCache;
}

/** Return the name to show for a run's dataset. */
export function datasetName(run, names) {
  if (run.dataset_name) return run.dataset_name;
  const id = run.dataset_id || "";
  if (id.startsWith("builtin:")) return id.slice("builtin:".length);
  return names?.get(id) || id.slice(0, 8);
}
