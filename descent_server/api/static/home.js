// The home view: the form that submits a run or a sweep, and the runs list.

import { api, FINAL_STATUSES, STATUSES } from "./api.js";
import { builtinDatasets, normalizeDataset, uploadedDatasets } from "./datasets.js";
import { h, isAbort, kindLabel, showError, sleep, statusBadge, when } from "./dom.js";
import { datasetName, datasetNames, tagChips } from "./runinfo.js";
import { buildForm } from "./runform.js";

export function renderHome(main, signal) {
  const formBox = h("section", { class: "panel", "aria-labelledby": "new-run-title" });
  const listBox = h("section", { class: "panel", "aria-labelledby": "runs-title" });
  main.append(h("div", { class: "home" }, formBox, listBox));
  buildForm(formBox, signal, { builtinDatasets, uploadedDatasets, normalizeDataset });
  buildRunsList(listBox, signal);
}

function buildRunsList(box, signal) {
  const error = h("div", { class: "banner error", role: "alert", hidden: true });
  const filter = h("select", { id: "status-filter" },
    ["all", ...STATUSES].map((s) =>
      h("option", { value: s === "all" ? "" : s }, s)));
  const body = h("tbody");
  const table = h("table", { id: "runs-table", class: "runs" },
    h("caption", { class: "sr-only" }, "Runs, newest first"),
    h("thead", {}, h("tr", {},
      ["Run", "Status", "Progress", "Kind", "Created"].map((t) => h("th", { scope: "col" }, t)))),
    body);
  const more = h("button", { type: "button", hidden: true }, "Show older runs");
  const empty = h("p", { class: "muted", hidden: true }, "No runs yet — submit one with the form.");
  box.append(
    h("div", { class: "panel-head" },
      h("h2", { id: "runs-title" }, "Runs"),
      h("a", { href: "#/runs", id: "open-runs-table" }, "Sort, filter and compare →"),
      h("label", { class: "inline" }, "Status ", filter)),
    error, h("div", { class: "table-wrap" }, table), empty, more);

  let olderRows = [];
  let cursor = null;
  let names = new Map();
  const render = (items) => {
    body.replaceChildren(...[...items, ...olderRows].map((run) => runRow(run, names)));
    empty.hidden = body.children.length > 0;
    table.dataset.loaded = String(body.children.length);
  };
  const load = async () => {
    const page = await api("v1/runs", { params: { limit: 50, status: filter.value }, signal });
    names = await datasetNames(signal, (page.items || []).map((r) => r.dataset_id));
    if (!olderRows.length) cursor = page.next_cursor;
    more.hidden = !cursor;
    render(page.items || []);
    showError(error, null);
    return page.items || [];
  };
  filter.addEventListener("change", () => {
    olderRows = [];
    load().catch((err) => isAbort(err) || showError(error, err));
  });
  more.addEventListener("click", async () => {
    try {
      const page = await api("v1/runs", { params: { limit: 50, cursor, status: filter.value }, signal });
      olderRows = olderRows.concat(page.items || []);
      cursor = page.next_cursor;
      more.hidden = !cursor;
      await load();
    } catch (err) {
      if (!isAbort(err)) showError(error, err);
    }
  });
  (async () => {
    // Refresh quickly while something is moving, slowly otherwise.
    for (;;) {
      let busy = false;
      try {
        const items = await load();
        busy = items.some((r) => !FINAL_STATUSES.has(r.status));
      } catch (err) {
        if (isAbort(err)) return;
        showError(error, err);
        if (err.status === 401) return; // the key form re-renders the view
      }
      try {
        await sleep(busy ? 1500 : 5000, signal);
      } catch {
        return;
      }
    }
  })();
}

function runRow(run, names) {
  const p = run.progress || {};
  const epochs = p.epochs || 0;
  const epoch = Math.max(0, p.epoch ?? 0);
  return h("tr", { "data-run-id": run.id },
    h("td", {}, h("a", { href: `#/runs/${encodeURIComponent(run.id)}` }, run.name || run.id.slice(0, 8)),
      h("div", { class: "muted small", title: run.dataset_id }, datasetName(run, names), " ", tagChips(run.tags),
        run.sweep_id ? [" · ", h("a", { href: `#/sweeps/${encodeURIComponent(run.sweep_id)}` }, "sweep")] : null)),
    h("td", {}, statusBadge(run.status)),
    h("td", { class: "nowrap" },
      h("progress", { max: epochs || 1, value: Math.min(epoch, epochs || 1), "aria-label": `epoch ${epoch} of ${epochs}` }),
      h("span", { class: "small" }, ` ${epoch}/${epochs}`)),
    h("td", {}, kindLabel(run.kind)),
    h("td", { class: "small" }, when(run.created_at, true)));
}
