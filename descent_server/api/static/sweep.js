// The sweep view: its runs with their learning rates and results, and every loss curve on one chart.

import { api, FINAL_STATUSES } from "./api.js";
import { ChartBox } from "./chartbox.js";
import { fmt, PALETTE } from "./charts.js";
import { h, isAbort, showError, sleep, statusBadge } from "./dom.js";

const MAX_CURVES = 20;

function learningRate(run) {
  const hp = run.hyperparameters || {};
  return hp.learning_rate ?? hp.optimizer?.learning_rate;
}

export function renderSweep(main, sweepId, signal) {
  const error = h("div", { id: "page-error", class: "banner error", role: "alert", hidden: true });
  const status = h("span", { id: "sweep-status" });
  const title = h("h1", {}, "Sweep");
  const body = h("tbody");
  const chart = new ChartBox({ id: "sweep-chart", label: "Loss curves of the sweep's runs",
    file: `sweep-${sweepId.slice(0, 8)}-loss`, log: true });
  main.append(
    h("p", {}, h("a", { href: "#/" }, "← All runs")),
    h("div", { class: "run-head" }, title, status),
    error,
    h("section", { class: "chart-panel", "aria-labelledby": "sweep-loss" },
      h("h2", { id: "sweep-loss" }, "Loss per epoch"),
      chart.el),
    h("section", { class: "panel", "aria-labelledby": "sweep-runs-title" },
      h("h2", { id: "sweep-runs-title" }, "Runs"),
      h("div", { class: "table-wrap" }, h("table", { class: "runs", id: "sweep-runs" },
        h("thead", {}, h("tr", {}, ["Run", "Learning rate", "Status", "Epoch", "Final loss"].map((t) => h("th", { scope: "col" }, t)))),
        body))));

  const curves = new Map(); // run id -> {key, points}
  let runs = [];
  const draw = () => {
    const series = runs.slice(0, MAX_CURVES).filter((r) => curves.has(r.id)).map((r, i) => ({
      name: `lr=${fmt(learningRate(r))}`, color: PALETTE[i % PALETTE.length], points: curves.get(r.id).points }));
    chart.draw(series, { xLabel: "epoch", integerX: true, legend: true });
  };
  const observer = new ResizeObserver(() => requestAnimationFrame(draw));
  observer.observe(chart.canvas);
  signal.addEventListener("abort", () => observer.disconnect());

  const refresh = async () => {
    const sweep = await api(`v1/sweeps/${encodeURIComponent(sweepId)}`, { signal });
    runs = sweep.runs || [];
    title.textContent = sweep.name ? `Sweep ${sweep.name}` : "Sweep";
    status.replaceChildren(statusBadge(sweep.status));
    body.replaceChildren(...runs.map((r) => h("tr", { class: r.id === sweep.best_run_id ? "best" : "" },
      h("td", {}, h("a", { href: `#/runs/${encodeURIComponent(r.id)}` }, r.name || r.id.slice(0, 8)),
        r.id === sweep.best_run_id ? h("span", { class: "badge best-badge" }, "best") : null),
      h("td", {}, fmt(learningRate(r))),
      h("td", {}, statusBadge(r.status)),
      h("td", {}, `${Math.max(0, r.progress?.epoch ?? 0)}/${r.progress?.epochs ?? "?"}`),
      h("td", {}, fmt(r.result?.final_loss ?? r.metrics?.loss)))));
    for (const r of runs.slice(0, MAX_CURVES)) {
      const key = `${r.status}:${r.progress?.epoch}`;
      if (curves.get(r.id)?.key === key || (r.progress?.epoch ?? -1) < 0) continue;
      const hist = await api(`v1/runs/${encodeURIComponent(r.id)}/history`, { params: { max_points: 400 }, signal });
      curves.set(r.id, { key, points: (hist.epochs || []).map((e) => [e.epoch, e.loss]) });
    }
    draw();
    return FINAL_STATUSES.has(sweep.status) || (runs.length && runs.every((r) => FINAL_STATUSES.has(r.status)));
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
