// The sweep view: its runs with every swept value and their results (pruned runs marked), the
// parallel-coordinates picture, and every loss curve on one chart labelled by what was swept.

import { api, apiBlob, FINAL_STATUSES } from "./api.js";
import { ChartBox } from "./chartbox.js";
import { fmt, PALETTE } from "./charts.js";
import { h, isAbort, showError, sleep, statusBadge } from "./dom.js";
import { fmtValue, metric, shortName, sweptLabel, sweptValues } from "./runinfo.js";
import { countsText } from "./sweeps.js";

const MAX_CURVES = 20;
const PARALLEL_EVERY_MS = 5000; // redraw the server's picture at most this often while running
// Drawn about 600 px wide: a smaller, denser picture keeps its axis labels readable.
const PARALLEL_SIZE = { width: 720, height: 560, dpi: 130 };

/** Return the swept names of a sweep: its axes (or grid), else the union of its runs' `swept`. */
function axisNames(sweep) {
  const axes = Object.keys(sweep.axes || sweep.grid || {});
  if (axes.length) return axes;
  return [...new Set((sweep.runs || []).flatMap((r) => Object.keys(r.swept || {})))];
}

function describeAxis(spec) {
  if (Array.isArray(spec)) return spec.map(fmtValue).join(", ");
  if (spec && typeof spec === "object") {
    return Object.entries(spec).map(([how, v]) => `${how.replace("_", "-")} ${Array.isArray(v) ? v.map(fmtValue).join(" … ") : fmtValue(v)}`).join(", ");
  }
  return fmtValue(spec);
}

function describeEarlyStop(es) {
  if (!es) return null;
  return `Early stopping: ${es.method ?? "asha"} on ${es.metric ?? "val_loss"}` +
    (es.min_epochs != null ? `, after ${es.min_epochs} epochs` : "") +
    (es.reduction_factor != null ? `, reduction factor ${es.reduction_factor}` : "");
}

export function renderSweep(main, sweepId, signal) {
  const error = h("div", { id: "page-error", class: "banner error", role: "alert", hidden: true });
  const status = h("span", { id: "sweep-status" });
  const title = h("h1", {}, "Sweep");
  const facts = h("dl", { id: "sweep-facts", class: "metrics" });
  const axesList = h("ul", { id: "sweep-axes", class: "axes small" });
  const head = h("tr");
  const body = h("tbody");
  const parallel = h("img", { id: "sweep-parallel", class: "plot", alt: "Parallel coordinates of the sweep (loading)" });
  const chart = new ChartBox({ id: "sweep-chart", label: "Loss curves of the sweep's runs",
    file: `sweep-${sweepId.slice(0, 8)}-loss`, log: true });
  main.append(
    h("p", {}, h("a", { href: "#/sweeps" }, "← All sweeps")),
    h("div", { class: "run-head" }, title, status),
    facts, axesList,
    error,
    h("section", { class: "panel", "aria-labelledby": "sweep-runs-title" },
      h("h2", { id: "sweep-runs-title" }, "Runs"),
      h("div", { class: "table-wrap" }, h("table", { class: "runs", id: "sweep-runs" }, h("thead", {}, head), body))),
    h("div", { class: "chart-grid" },
      h("section", { class: "chart-panel", "aria-labelledby": "sweep-parallel-title" },
        h("h2", { id: "sweep-parallel-title" }, "Parallel coordinates"),
        h("p", { class: "muted small" }, "One line per run, from each swept value to its final metric."),
        parallel),
      h("section", { class: "chart-panel", "aria-labelledby": "sweep-loss" },
        h("h2", { id: "sweep-loss" }, "Loss per epoch (dashed: pruned)"),
        chart.el)));

  const curves = new Map(); // run id -> {key, points}
  let runs = [];
  let names = [];
  const draw = () => {
    const series = runs.slice(0, MAX_CURVES).filter((r) => curves.has(r.id)).map((r, i) => ({
      name: sweptLabel(r, names), color: PALETTE[i % PALETTE.length], dashed: r.status === "pruned",
      points: curves.get(r.id).points }));
    chart.draw(series, { xLabel: "epoch", integerX: true, legend: true });
  };
  const observer = new ResizeObserver(() => requestAnimationFrame(draw));
  observer.observe(chart.canvas);
  signal.addEventListener("abort", () => observer.disconnect());

  let parallelKey = null;
  let parallelAt = 0;
  let parallelUrl = null;
  signal.addEventListener("abort", () => parallelUrl && URL.revokeObjectURL(parallelUrl));
  const loadParallel = async (sweep, final) => {
    const key = JSON.stringify([sweep.status, sweep.counts, runs.map((r) => r.progress?.epoch)]);
    if (key === parallelKey || (!final && Date.now() - parallelAt < PARALLEL_EVERY_MS)) return;
    if (!runs.some((r) => FINAL_STATUSES.has(r.status))) return; // nothing to draw a line for yet
    parallelKey = key;
    parallelAt = Date.now();
    const blob = await apiBlob(`v1/sweeps/${encodeURIComponent(sweepId)}/plots/parallel.png`, PARALLEL_SIZE, signal);
    if (parallelUrl) URL.revokeObjectURL(parallelUrl);
    parallelUrl = URL.createObjectURL(blob);
    parallel.addEventListener("load", () => { parallel.dataset.loaded = sweep.status; }, { once: true });
    parallel.src = parallelUrl;
    parallel.alt = `Parallel coordinates of ${runs.length} runs over ${names.map(shortName).join(", ")}`;
  };

  const refresh = async () => {
    const sweep = await api(`v1/sweeps/${encodeURIComponent(sweepId)}`, { signal });
    runs = sweep.runs || [];
    names = axisNames(sweep);
    title.textContent = sweep.name ? `Sweep ${sweep.name}` : "Sweep";
    document.title = `${title.textContent} · descent`;
    status.replaceChildren(statusBadge(sweep.status));
    const fact = (k, v, id) => [h("dt", {}, k), h("dd", { id }, v)];
    facts.replaceChildren(
      ...fact("strategy", sweep.strategy || "grid", "sweep-strategy"),
      ...fact("runs", `${runs.length}: ${countsText(sweep.counts)}`, "sweep-counts"),
      ...(sweep.epochs_saved != null ? fact("epochs saved", String(sweep.epochs_saved), "sweep-epochs-saved") : []));
    const es = describeEarlyStop(sweep.early_stop);
    axesList.replaceChildren(
      ...Object.entries(sweep.axes || sweep.grid || {}).map(([n, spec]) => h("li", {}, h("strong", {}, n), `: ${describeAxis(spec)}`)),
      ...(es ? [h("li", {}, es)] : []));
    drawTable(head, body, sweep, runs, names);
    for (const r of runs.slice(0, MAX_CURVES)) {
      const key = `${r.status}:${r.progress?.epoch}`;
      if (curves.get(r.id)?.key === key || (r.progress?.epoch ?? -1) < 0) continue;
      const hist = await api(`v1/runs/${encodeURIComponent(r.id)}/history`, { params: { max_points: 400 }, signal });
      curves.set(r.id, { key, points: (hist.epochs || []).map((e) => [e.epoch, e.loss]) });
    }
    draw();
    const final = FINAL_STATUSES.has(sweep.status) || (runs.length > 0 && runs.every((r) => FINAL_STATUSES.has(r.status)));
    await loadParallel(sweep, final);
    return final;
  };

  (async () => {
    for (;;) {
      try {
        if (await refresh()) return;
        showError(error, null);
      } catch (err) {
        if (isAbort(err)) return;
        showError(error, err);
        if (err.status === 401 || err.status === 404) return;
      }
      try {
        await sleep(1500, signal);
      } catch {
        return;
      }
    }
  })();
}

function drawTable(head, body, sweep, runs, names) {
  const metricNames = ["loss", "val_loss", "accuracy", "mae"].filter((m) => runs.some((r) => metric(r, m) !== null));
  head.replaceChildren(h("th", { scope: "col" }, "Run"),
    ...names.map((n) => h("th", { scope: "col", title: n, "data-axis": n }, shortName(n))),
    h("th", { scope: "col" }, "Status"),
    ...["Epoch", ...metricNames].map((t) => h("th", { scope: "col", class: "num" }, t)));
  body.replaceChildren(...runs.map((r) => {
    const swept = sweptValues(r, names);
    const best = r.id === sweep.best_run_id;
    const epoch = Math.max(0, r.progress?.epoch ?? 0);
    return h("tr", { "data-run-id": r.id, class: [best ? "best" : "", r.status === "pruned" ? "pruned" : ""].join(" ").trim() },
      h("td", {}, h("a", { href: `#/runs/${encodeURIComponent(r.id)}` }, r.name || r.id.slice(0, 8)),
        best ? h("span", { class: "badge best-badge" }, "best") : null),
      ...names.map((n) => h("td", { "data-axis": n }, fmtValue(swept[n]))),
      h("td", {}, statusBadge(r.status)),
      h("td", { class: "num nowrap" }, `${epoch}/${r.progress?.epochs ?? "?"}`),
      ...metricNames.map((m) => h("td", { class: "num", "data-metric": m }, fmt(metric(r, m)))));
  }));
}
