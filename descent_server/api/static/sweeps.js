// The sweeps list (#/sweeps): strategy, status, run counts, the best run and the epochs that
// early stopping saved (GET v1/sweeps).

import { api, FINAL_STATUSES, STATUSES } from "./api.js";
import { h, isAbort, showError, sleep, statusBadge, when } from "./dom.js";
import { fmt } from "./charts.js";
import { fmtValue, metric, shortName } from "./runinfo.js";

/** Return "3 succeeded · 2 pruned" from a sweep's counts, in the API's status order. */
export function countsText(counts) {
  const c = counts || {};
  return STATUSES.filter((s) => c[s]).map((s) => `${c[s]} ${s}`).join(" · ") || "no runs";
}

export function renderSweeps(main, signal) {
  const error = h("div", { id: "page-error", class: "banner error", role: "alert", hidden: true });
  const status = h("select", { id: "sweeps-status" },
    ["all", "running", "succeeded", "failed", "cancelled"].map((s) => h("option", { value: s === "all" ? "" : s }, s)));
  const body = h("tbody");
  const table = h("table", { id: "sweeps-table", class: "runs" },
    h("caption", { class: "sr-only" }, "Sweeps, newest first"),
    h("thead", {}, h("tr", {}, ["Sweep", "Strategy", "Axes", "Status", "Runs", "Best run", "Epochs saved", "Created"]
      .map((t) => h("th", { scope: "col" }, t)))),
    body);
  const more = h("button", { type: "button", hidden: true }, "Show older sweeps");
  const empty = h("p", { class: "muted", hidden: true }, "No sweeps yet — start one from the run form.");
  main.append(
    h("div", { class: "page-head" }, h("h1", {}, "Sweeps"), h("label", { class: "inline" }, "Status ", status)),
    error, h("section", { class: "panel", "aria-label": "Sweeps" }, h("div", { class: "table-wrap" }, table), empty, more));

  let older = [];
  let cursor = null;
  const load = async () => {
    const page = await api("v1/sweeps", { params: { limit: 50, status: status.value }, signal });
    const items = page.items || [];
    if (!older.length) cursor = page.next_cursor;
    more.hidden = !cursor;
    body.replaceChildren(...[...items, ...older].map(sweepRow));
    empty.hidden = body.children.length > 0;
    table.dataset.loaded = String(body.children.length);
    showError(error, null);
    return items;
  };
  status.addEventListener("change", () => {
    older = [];
    load().catch((err) => isAbort(err) || showError(error, err));
  });
  more.addEventListener("click", async () => {
    try {
      const page = await api("v1/sweeps", { params: { limit: 50, cursor, status: status.value }, signal });
      older = older.concat(page.items || []);
      cursor = page.next_cursor;
      await load();
    } catch (err) {
      if (!isAbort(err)) showError(error, err);
    }
  });
  (async () => {
    for (;;) {
      let busy = false;
      try {
        busy = (await load()).some((s) => !FINAL_STATUSES.has(s.status));
      } catch (err) {
        if (isAbort(err)) return;
        showError(error, err);
        if (err.status === 401) return;
      }
      try {
        await sleep(busy ? 2000 : 6000, signal);
      } catch {
        return;
      }
    }
  })();
}

function sweepRow(sweep) {
  const link = `#/sweeps/${encodeURIComponent(sweep.id)}`;
  const axes = Object.keys(sweep.axes || sweep.grid || {});
  const best = (sweep.runs || []).find((r) => r.id === sweep.best_run_id);
  const total = (sweep.runs || []).length || Object.values(sweep.counts || {}).reduce((a, b) => a + b, 0);
  return h("tr", { "data-sweep-id": sweep.id },
    h("td", {}, h("a", { href: link }, sweep.name || sweep.id.slice(0, 8))),
    h("td", {}, sweep.strategy || "grid"),
    h("td", { class: "small" }, axes.map(shortName).join(", ")),
    h("td", {}, statusBadge(sweep.status)),
    h("td", { class: "small" }, `${total} runs: ${countsText(sweep.counts)}`),
    h("td", { class: "small" }, best
      ? [h("a", { href: `#/runs/${encodeURIComponent(best.id)}` }, best.name || best.id.slice(0, 8)),
        ` ${finalLoss(best)}`,
        best.swept ? h("div", { class: "muted" }, Object.entries(best.swept).map(([k, v]) => `${shortName(k)}=${fmtValue(v)}`).join(", ")) : null]
      : "–"),
    h("td", { class: "num" }, sweep.epochs_saved ?? "–"),
    h("td", { class: "small nowrap" }, when(sweep.created_at, true)));
}

function finalLoss(run) {
  const val = metric(run, "val_loss");
  return val !== null ? `val_loss ${fmt(val)}` : `loss ${fmt(metric(run, "loss"))}`;
}
