// The compare view (#/compare/ID,ID,…): the runs' loss curves overlaid, the hyperparameters
// that differ and the final metrics side by side (GET v1/runs/compare).

import { api, apiBlob } from "./api.js";
import { download } from "./chartbox.js";
import { fmt } from "./charts.js";
import { h, isAbort, kindLabel, showError, statusBadge } from "./dom.js";
import { breakable, datasetName, datasetNames, fmtDuration, fmtValue, tagChips } from "./runinfo.js";

const HIGHER_IS_BETTER = new Set(["accuracy", "val_accuracy"]);

export function renderCompare(main, idList, signal) {
  const ids = idList.split(",").map(decodeURIComponent).filter(Boolean);
  const error = h("div", { id: "page-error", class: "banner error", role: "alert", hidden: true });
  const title = h("h1", {}, `Compare ${ids.length} runs`);
  const plot = h("img", { id: "compare-plot", class: "plot", alt: "Loss curves of the compared runs (loading)" });
  const save = h("button", { type: "button", class: "tool", disabled: true }, "Download loss.png");
  const overview = h("table", { id: "compare-runs", class: "runs side" });
  const differs = h("table", { id: "compare-differs", class: "runs side" });
  const metrics = h("table", { id: "compare-metrics", class: "runs side" });
  main.append(
    h("p", {}, h("a", { href: "#/runs" }, "← Runs table")),
    h("div", { class: "page-head" }, title),
    error,
    h("div", { class: "compare-grid" },
      h("section", { class: "chart-panel", "aria-labelledby": "compare-loss" },
        h("h2", { id: "compare-loss" }, "Loss per epoch"), plot, h("div", { class: "actions" }, save)),
      h("div", { class: "compare-tables" },
        h("section", { class: "panel", "aria-labelledby": "compare-differs-title" },
          h("h2", { id: "compare-differs-title" }, "What differs"), h("div", { class: "table-wrap" }, differs)),
        h("section", { class: "panel", "aria-labelledby": "compare-metrics-title" },
          h("h2", { id: "compare-metrics-title" }, "Final metrics"), h("div", { class: "table-wrap" }, metrics)),
        h("section", { class: "panel", "aria-labelledby": "compare-runs-title" },
          h("h2", { id: "compare-runs-title" }, "Runs"), h("div", { class: "table-wrap" }, overview)))));

  const params = { ids: ids.join(",") };
  (async () => {
    const [body, names] = await Promise.all([
      api("v1/runs/compare", { params, signal }), datasetNames(signal)]);
    const runs = body.runs || [];
    title.textContent = `Compare ${runs.length} runs`;
    document.title = `Compare ${runs.length} runs · descent`;
    const headRow = () => h("thead", {}, h("tr", {}, h("th", { scope: "col" }, ""),
      runs.map((r) => h("th", { scope: "col" }, h("a", { href: `#/runs/${encodeURIComponent(r.id)}` }, breakable(r.name || r.id.slice(0, 8)))))));
    const row = (label, cells, attrs = {}) => h("tr", attrs, h("th", { scope: "row" }, label), cells);

    const diff = Object.entries(body.differs || {});
    differs.replaceChildren(headRow(), h("tbody", {}, diff.length
      ? diff.map(([name, values]) => row(name, values.map((v) => h("td", {}, fmtValue(v))), { "data-name": name }))
      : h("tr", {}, h("td", { colspan: runs.length + 1, class: "muted" }, "Same hyperparameters."))));
    differs.dataset.loaded = String(diff.length);

    // A metric none of the runs has (val_loss without a validation split) is left out.
    const measured = Object.entries(body.metrics || {}).filter(([, values]) => values.some((v) => v !== null));
    metrics.replaceChildren(headRow(), h("tbody", {}, measured.map(([name, values]) => {
      const finite = values.filter((v) => typeof v === "number" && Number.isFinite(v));
      const best = finite.length > 1 ? (HIGHER_IS_BETTER.has(name) ? Math.max(...finite) : Math.min(...finite)) : null;
      const mark = (v) => best !== null && v === best;
      return row(name, values.map((v) => h("td", { class: mark(v) ? "num best-cell" : "num" }, fmt(v))), { "data-name": name });
    })));

    overview.replaceChildren(headRow(), h("tbody", {},
      row("Status", runs.map((r) => h("td", {}, statusBadge(r.status)))),
      row("Kind", runs.map((r) => h("td", {}, kindLabel(r.kind)))),
      row("Dataset", runs.map((r) => h("td", {}, datasetName(r, names)))),
      row("Tags", runs.map((r) => h("td", { class: "tags" }, tagChips(r.tags)))),
      row("Duration", runs.map((r) => h("td", {}, fmtDuration(r.duration_s)))),
      row("Epochs run", runs.map((r) => h("td", {}, `${Math.max(0, r.progress?.epoch ?? 0)}/${r.progress?.epochs ?? "?"}`)))));

    const blob = await apiBlob("v1/runs/compare/plots/loss.png", params, signal);
    const url = URL.createObjectURL(blob);
    signal.addEventListener("abort", () => URL.revokeObjectURL(url));
    plot.addEventListener("load", () => { plot.dataset.loaded = "true"; }, { once: true });
    plot.src = url;
    plot.alt = `Loss curves of ${runs.map((r) => r.name || r.id.slice(0, 8)).join(", ")}`;
    save.disabled = false;
    save.addEventListener("click", () => download(blob, "compare-loss.png"));
  })().catch((err) => isAbort(err) || showError(error, err));
}
