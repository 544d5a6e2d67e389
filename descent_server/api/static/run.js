// The run view: header with live status, epoch counter and speed, the error, the charts and the
// epoch scrubber (slider + play) that drives the boundary, the fit line and the descent path.

import { api } from "./api.js";
import { DiagnosisBanners } from "./diagnoses.js";
import { h, isAbort, kindLabel, runTitle, showError, statusBadge, when } from "./dom.js";
import { RunFeed } from "./live.js";
import { LiveStats } from "./livestats.js";
import { datasetName, datasetNames } from "./runinfo.js";
import { RunMeta } from "./runmeta.js";
import { Visuals } from "./visuals.js";

const METRICS = ["loss", "val_loss", "accuracy", "val_accuracy", "mae", "val_mae"];

export function renderRun(main, runId, signal) {
  const ui = {
    title: h("h1", { id: "run-title" }, "Run"),
    status: h("span", { id: "run-status" }),
    counter: h("span", { id: "epoch-counter", class: "counter", "aria-live": "off" }, "Epoch –"),
    mode: h("span", { id: "live-mode", class: "muted small" }),
    metrics: h("dl", { id: "run-metrics", class: "metrics" }),
    runError: h("div", { id: "run-error", class: "banner error", role: "alert", hidden: true }),
    pageError: h("div", { id: "page-error", class: "banner error", role: "alert", hidden: true }),
    note: h("p", { id: "run-note", class: "muted", hidden: true }),
    cancel: h("button", { type: "button", id: "cancel-run", hidden: true }, "Cancel run"),
    remove: h("button", { type: "button", id: "delete-run" }, "Delete run"),
    details: h("div", { class: "details" }),
    charts: h("div", { class: "charts" }),
    stats: new LiveStats(signal),
    diagnoses: new DiagnosisBanners(),
    names: new Map(),
  };
  ui.meta = new RunMeta(runId, signal, (run) => feed.setRun(run));
  main.append(
    h("p", {}, h("a", { href: "#/" }, "← All runs")),
    h("div", { class: "run-head" }, ui.title, ui.status),
    h("div", { class: "run-progress" }, ui.counter, ui.mode, ui.stats.el),
    ui.meta.el, ui.runError, ui.diagnoses.el, ui.pageError, ui.note, ui.metrics, ui.charts, ui.details,
    h("div", { class: "actions" }, ui.cancel, ui.remove));

  let visuals = null;
  let headerPending = false;
  // Epochs can arrive by the thousand per second: redraw the header at most once a frame.
  const refreshHeader = () => {
    if (headerPending) return;
    headerPending = true;
    requestAnimationFrame(() => {
      headerPending = false;
      if (!signal.aborted) header(ui, feed);
    });
  };
  const feed = new RunFeed(runId, signal, (what) => {
    if (what === "run" && !ui.namesAsked && feed.run) {
      ui.namesAsked = true;
      datasetNames(signal, [feed.run.dataset_id]).then((names) => {
        ui.names = names;
        refreshHeader();
      }).catch(() => {}); // the id is shown meanwhile
    }
    if (what === "run" || what === "final") {
      if (!visuals) visuals = new Visuals(ui.charts, feed, signal, (err) => showError(ui.pageError, err));
      refreshHeader();
      if (what === "final") visuals.onFinal();
    }
    if (what === "history") {
      refreshHeader();
      visuals?.onHistory();
    }
    if (what === "diagnosis") ui.diagnoses.update(feed.diagnoses);
    if (what === "mode") {
      ui.mode.textContent = { live: "● live", polling: "● polling", connecting: "" }[feed.mode] || "";
    }
  });

  ui.cancel.addEventListener("click", async () => {
    ui.cancel.disabled = true;
    try {
      feed.setRun(await api(`v1/runs/${encodeURIComponent(runId)}/cancel`, { method: "POST", signal }));
    } catch (err) {
      if (!isAbort(err)) showError(ui.pageError, err);
    } finally {
      ui.cancel.disabled = false;
    }
  });
  ui.remove.addEventListener("click", async () => {
    if (!window.confirm("Delete this run and its history?")) return;
    try {
      await api(`v1/runs/${encodeURIComponent(runId)}`, { method: "DELETE", signal });
      location.hash = "#/";
    } catch (err) {
      if (!isAbort(err)) showError(ui.pageError, err);
    }
  });

  feed.start().catch((err) => {
    if (isAbort(err)) return;
    showError(ui.pageError, err);
    ui.mode.textContent = "";
  });
}

function header(ui, feed) {
  const run = feed.run;
  if (!run) return;
  ui.title.textContent = runTitle(run);
  document.title = `${runTitle(run)} · descent`;
  ui.status.replaceChildren(statusBadge(run.status));
  ui.meta.update(run);
  const epochs = run.progress?.epochs ?? run.hyperparameters?.epochs ?? "?";
  const epoch = Math.max(run.progress?.epoch ?? -1, feed.lastEpoch);
  ui.counter.textContent = epoch >= 0 ? `Epoch ${epoch} / ${epochs}` : `Epoch – / ${epochs}`;
  ui.counter.dataset.epoch = String(epoch);
  ui.stats.update(run, epoch, feed.final);
  ui.cancel.hidden = feed.final;

  if (run.error) {
    ui.runError.hidden = false;
    const code = run.error.code === run.status ? "" : ` (${run.error.code})`;
    ui.runError.replaceChildren(h("strong", {}, `Run ${run.status}${code}: `),
      run.error.message || "no message");
  } else {
    ui.runError.hidden = true;
  }
  const verdict = run.analysis?.lr_verdict;
  const notes = [];
  if (run.status === "queued") notes.push("Waiting for a worker to pick this run up…");
  if (verdict) {
    notes.push(`Learning rate ${fmtNum(run.hyperparameters?.learning_rate)} ${verdict}` +
      (run.analysis.lr_max != null ? ` (it diverges above ${fmtNum(run.analysis.lr_max)}).` : "."));
  }
  ui.note.hidden = !notes.length;
  ui.note.textContent = notes.join(" ");

  const last = feed.history[feed.history.length - 1] || {};
  const m = { ...(run.metrics || {}) };
  for (const k of METRICS) if (last[k] != null) m[k] = last[k];
  ui.metrics.replaceChildren(...METRICS
    .filter((k) => m[k] !== undefined && m[k] !== null)
    .flatMap((k) => [h("dt", {}, k), h("dd", { id: `metric-${k}` }, fmtNum(m[k]))]));
  if (m.loss === null && run.error) ui.metrics.append(h("dt", {}, "loss"), h("dd", {}, "not finite"));

  // Update in place: rebuilding would close a <details> the reader has opened.
  const info = [
    ["Kind", kindLabel(run.kind)],
    ["Dataset", ui.names.has(run.dataset_id) || run.dataset_name
      ? `${datasetName(run, ui.names)} (${run.dataset_id})` : run.dataset_id],
    ["Features → target", `${(run.features || []).join(", ")} → ${run.target}`],
    ["Device", [run.device, run.backend].filter(Boolean).join(" · ") || "–"],
    ["Attempt", run.attempt ?? "–"],
    ["Created", when(run.created_at)],
    ["Started", when(run.started_at)],
    ["Finished", when(run.finished_at)],
    ["Run id", run.id],
  ];
  if (!ui.kv) {
    ui.kv = h("dl", { class: "kv" });
    ui.hp = h("pre", {});
    ui.result = h("pre", {});
    ui.resultBox = h("details", {}, h("summary", {}, "Result"), ui.result);
    ui.details.append(h("h2", {}, "Details"), ui.kv,
      h("details", {}, h("summary", {}, "Hyperparameters"), ui.hp), ui.resultBox);
  }
  ui.kv.replaceChildren(...info.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, String(v))]));
  ui.hp.textContent = JSON.stringify(run.hyperparameters || {}, null, 2);
  ui.resultBox.hidden = !run.result;
  ui.result.textContent = run.result ? JSON.stringify(run.result, null, 2) : "";
}

function fmtNum(v) {
  if (v === null || v === undefined) return "–";
  if (typeof v !== "number") return String(v);
  const a = Math.abs(v);
  return a !== 0 && (a >= 1e6 || a < 1e-3)
    ? v.toExponential(3).replace(/\.?0+e/, "e").replace("e+", "e")
    : String(Number(v.toPrecision(5)));
}
