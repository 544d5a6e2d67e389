// Why a run is (or isn't) learning: one plain-words banner per diagnosis, worst first, each
// with what to change. Fed from run.diagnostics and the stream's `diagnosis` events.

import { h } from "./dom.js";

const RANK = { error: 2, warning: 1, info: 0 };
const LABEL = { error: "Problem", warning: "Warning", info: "Note" };

/** What makes a finding new: the server keeps each (code, severity) once per run. */
export function diagnosisKey(d) {
  return `${d.code}|${d.severity}`;
}

/** Merge `found` into `list` (keyed by code and severity); return true if anything changed. */
export function mergeDiagnoses(list, found) {
  let changed = false;
  for (const d of found || []) {
    if (!d || typeof d.code !== "string") continue;
    const i = list.findIndex((x) => diagnosisKey(x) === diagnosisKey(d));
    if (i < 0) {
      list.push(d);
      changed = true;
    } else if (JSON.stringify(list[i]) !== JSON.stringify(d)) {
      list[i] = d;
      changed = true;
    }
  }
  return changed;
}

/** The banners of a run page: call update(diagnoses) whenever the list may have changed. */
export class DiagnosisBanners {
  constructor() {
    this.el = h("section", { id: "diagnoses", class: "diagnoses", "aria-live": "polite",
      "aria-label": "Why is it (not) learning?", hidden: true });
    this.shown = "";
  }

  update(diagnoses) {
    // A warning superseded by an error of the same code shows only the error.
    const worst = new Map();
    for (const d of diagnoses) {
      const seen = worst.get(d.code);
      if (!seen || (RANK[d.severity] ?? 0) > (RANK[seen.severity] ?? 0)) worst.set(d.code, d);
    }
    const list = [...worst.values()].sort((a, b) =>
      (RANK[b.severity] ?? 0) - (RANK[a.severity] ?? 0) || (a.epoch ?? 0) - (b.epoch ?? 0));
    const shown = JSON.stringify(list.map((d) => [d.code, d.severity, d.message, d.hint]));
    if (shown === this.shown) return;
    this.shown = shown;
    this.el.hidden = !list.length;
    this.el.replaceChildren(...list.map(banner));
  }
}

function banner(d) {
  const severity = RANK[d.severity] === undefined ? "info" : d.severity;
  const title = `${LABEL[severity]}: ${d.code.replaceAll("_", " ")}`;
  const when = d.epoch === null || d.epoch === undefined ? "" : ` (epoch ${d.epoch})`;
  return h("div", {
    class: `banner diagnosis ${severity}`,
    role: severity === "error" ? "alert" : "status",
    "data-code": d.code,
    "data-severity": severity,
  },
  h("strong", { class: "diagnosis-title" }, title), h("span", { class: "muted small" }, when),
  h("p", { class: "diagnosis-message" }, d.message || ""),
  d.hint ? h("p", { class: "diagnosis-hint" }, h("strong", {}, "Try: "), d.hint) : null);
}
