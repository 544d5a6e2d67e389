// A run's tags and notes on its page, edited in place (PATCH v1/runs/{id}), plus its lineage
// (the sweep it belongs to, the run it was cloned from).

import { api } from "./api.js";
import { h, isAbort, showError } from "./dom.js";
import { tagChips } from "./runinfo.js";

/** Split "a, b c" into unique tags. */
export function parseTags(text) {
  return [...new Set(text.split(/[\s,]+/).map((t) => t.trim()).filter(Boolean))];
}

export class RunMeta {
  /** Build the box; `onSaved(run)` gets the updated run. */
  constructor(runId, signal, onSaved) {
    this.runId = runId;
    this.signal = signal;
    this.onSaved = onSaved;
    this.view = h("div", { class: "run-meta-view" });
    this.tags = h("input", { id: "edit-tags", type: "text", spellcheck: "false", placeholder: "baseline, adam" });
    this.notes = h("textarea", { id: "edit-notes", rows: 3 });
    this.error = h("div", { class: "banner error", role: "alert", hidden: true });
    this.edit = h("button", { type: "button", id: "edit-meta", class: "tool" }, "Edit tags and notes");
    this.form = h("form", { id: "meta-form", class: "meta-form", hidden: true },
      h("label", { for: "edit-tags" }, "Tags (comma separated)"), this.tags,
      h("label", { for: "edit-notes" }, "Notes"), this.notes, this.error,
      h("div", { class: "actions" },
        h("button", { type: "submit", class: "primary", id: "save-meta" }, "Save"),
        h("button", { type: "button", onclick: () => this.close() }, "Cancel")));
    this.el = h("section", { id: "run-meta", class: "run-meta", "aria-label": "Tags and notes" }, this.view, this.edit, this.form);
    this.edit.addEventListener("click", () => this.open());
    this.form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      this.save();
    });
  }

  /** Show the run's tags, notes and lineage (left alone while the form is open). */
  update(run) {
    this.run = run;
    if (!this.form.hidden) return;
    const lineage = [
      run.sweep_id ? h("a", { href: `#/sweeps/${encodeURIComponent(run.sweep_id)}` }, "its sweep") : null,
      run.parent_run_id ? h("a", { href: `#/runs/${encodeURIComponent(run.parent_run_id)}` }, "the run it was cloned from") : null,
    ].filter(Boolean);
    this.view.replaceChildren(...[
      h("div", { id: "run-tags", class: "tags" }, (run.tags || []).length ? tagChips(run.tags) : h("span", { class: "muted small" }, "no tags")),
      run.notes ? h("p", { id: "run-notes", class: "notes" }, run.notes) : null,
      lineage.length ? h("p", { class: "small muted" }, "See ", lineage.flatMap((a, i) => (i ? [" · ", a] : [a])), ".") : null,
    ].filter(Boolean));
  }

  open() {
    this.tags.value = (this.run?.tags || []).join(", ");
    this.notes.value = this.run?.notes || "";
    this.form.hidden = false;
    this.edit.hidden = true;
    this.tags.focus();
  }

  close() {
    this.form.hidden = true;
    this.edit.hidden = false;
    showError(this.error, null);
    if (this.run) this.update(this.run);
  }

  async save() {
    try {
      const run = await api(`v1/runs/${encodeURIComponent(this.runId)}`, {
        method: "PATCH", signal: this.signal,
        body: { tags: parseTags(this.tags.value), notes: this.notes.value.trim() || null } });
      this.run = run;
      this.close();
      this.onSaved(run);
    } catch (err) {
      if (!isAbort(err)) showError(this.error, err);
    }
  }
}
