// The runs table (#/runs): key hyperparameters and final metrics per run, sorted by the server
// (created_at, duration_s, metrics.<name>), filtered by status, tags and name, with checkboxes
// that select runs for the compare view.

import { api, FINAL_STATUSES, STATUSES } from "./api.js";
import { h, isAbort, kindLabel, showError, sleep, statusBadge, when } from "./dom.js";
import { fmt } from "./charts.js";
import { breakable, datasetName, datasetNames, fmtDuration, fmtValue, learningRate, metric, tagChips } from "./runinfo.js";

const PAGE = 50;
const MAX_COMPARE = 20;
// Lower is better for losses and errors; the first click sorts the best runs to the top.
const HIGHER_IS_BETTER = new Set(["accuracy", "val_accuracy"]);
const METRIC_COLUMNS = ["loss", "val_loss", "accuracy", "mae"];

const COLUMNS = [
  { label: "Run" },
  { label: "Status" },
  { label: "Kind" },
  { label: "Dataset" },
  { label: "Tags" },
  { label: "Learning rate", title: "learning_rate or optimizer.learning_rate (and the optimizer)", numeric: true },
  { label: "Epochs", numeric: true },
  { label: "Layers", title: "hidden_layers", numeric: true },
  ...METRIC_COLUMNS.map((m) => ({ label: m, sort: `metrics.${m}`, numeric: true })),
  { label: "Duration", sort: "duration_s", numeric: true },
  { label: "Created", sort: "created_at" },
];

export function renderRuns(main, signal) {
  const state = { sort: "-created_at", tags: [], q: "", status: "", selected: new Map(), names: new Map() };
  const error = h("div", { id: "runs-error", class: "banner error", role: "alert", hidden: true });
  const q = h("input", { id: "runs-q", type: "search", placeholder: "part of a name", spellcheck: "false" });
  const tagInput = h("input", { id: "runs-tag", type: "text", placeholder: "tag, then Enter", list: "known-tags", spellcheck: "false" });
  const knownTags = h("datalist", { id: "known-tags" });
  const tagList = h("span", { id: "tag-filters", class: "tag-filters" });
  const status = h("select", { id: "runs-status" },
    ["all", ...STATUSES].map((s) => h("option", { value: s === "all" ? "" : s }, s)));
  const compare = h("button", { type: "button", id: "compare-runs", class: "primary", disabled: true }, "Compare");
  const clear = h("button", { type: "button", id: "clear-selection", hidden: true }, "Clear selection");
  const picked = h("span", { id: "selection-count", class: "muted small", role: "status" });
  const head = h("tr");
  const body = h("tbody");
  const table = h("table", { id: "runs-explorer", class: "runs wide" },
    h("caption", { class: "sr-only" }, "Runs with their hyperparameters and final metrics"),
    h("thead", {}, head), body);
  const more = h("button", { type: "button", id: "more-runs", hidden: true }, "Show more runs");
  const empty = h("p", { class: "muted", hidden: true }, "No runs match.");
  main.append(
    h("div", { class: "page-head" }, h("h1", {}, "Runs"), h("a", { href: "#/" }, "New run")),
    h("section", { class: "panel", "aria-label": "Runs table" },
      h("form", { class: "filters", role: "search", onsubmit: (ev) => ev.preventDefault() },
        h("label", { class: "inline" }, "Name ", q),
        h("label", { class: "inline" }, "Tag ", tagInput), knownTags, tagList,
        h("label", { class: "inline" }, "Status ", status)),
      h("div", { class: "actions" }, compare, clear, picked),
      error, h("div", { class: "table-wrap" }, table), empty, more));

  let rows = [];
  let cursor = null;
  let seq = 0;

  const params = (extra) => ({ limit: PAGE, sort: state.sort, tag: state.tags, q: state.q, status: state.status, ...extra });
  const query = () => new URLSearchParams(Object.entries(params()).flatMap(([k, v]) =>
    (Array.isArray(v) ? v : [v]).filter((x) => x !== "").map((x) => [k, String(x)]))).toString();

  const drawHead = () => {
    head.replaceChildren(h("th", { scope: "col", class: "pick" }, h("span", { class: "sr-only" }, "Select")),
      ...COLUMNS.map((c) => {
        if (!c.sort) return h("th", { scope: "col", title: c.title, class: c.numeric ? "num" : "" }, c.label);
        const dir = state.sort === c.sort ? "ascending" : state.sort === `-${c.sort}` ? "descending" : null;
        return h("th", { scope: "col", "aria-sort": dir || "none", class: c.numeric ? "num" : "" },
          h("button", { type: "button", class: "sort", "data-sort": c.sort, onclick: () => sortBy(c.sort) },
            c.label, h("span", { "aria-hidden": "true" }, dir === "ascending" ? " ▲" : dir === "descending" ? " ▼" : "")));
      }));
  };
  const sortBy = (key) => {
    const name = key.startsWith("metrics.") ? key.slice(8) : key;
    const first = HIGHER_IS_BETTER.has(name) || key === "created_at" || key === "duration_s" ? `-${key}` : key;
    state.sort = state.sort === first ? (first.startsWith("-") ? key : `-${key}`) : first;
    reload();
  };
  const drawTags = () => {
    tagList.replaceChildren(...state.tags.map((t) => h("button", { type: "button", class: "tag active",
      "aria-label": `Remove tag filter ${t}`, onclick: () => { state.tags = state.tags.filter((x) => x !== t); reload(); } },
    t, " ×")));
  };
  const addTag = (t) => {
    t = t.trim();
    if (t && !state.tags.includes(t)) state.tags.push(t);
    tagInput.value = "";
    reload();
  };
  const drawSelection = () => {
    const n = state.selected.size;
    compare.disabled = n < 2 || n > MAX_COMPARE;
    compare.textContent = n ? `Compare ${n} runs` : "Compare";
    clear.hidden = !n;
    picked.textContent = n < 2 ? "Tick two or more runs to compare them." : n > MAX_COMPARE ? `At most ${MAX_COMPARE} runs.` : "";
  };
  const draw = () => {
    body.replaceChildren(...rows.map((run) => runRow(run, state, addTag, drawSelection)));
    empty.hidden = rows.length > 0;
    more.hidden = !cursor;
    const tags = new Set(rows.flatMap((r) => r.tags || []));
    knownTags.replaceChildren(...[...tags].sort().map((t) => h("option", { value: t })));
    table.dataset.loaded = String(rows.length);
    table.dataset.query = query();
  };
  const load = async () => {
    const mine = ++seq;
    const page = await api("v1/runs", { params: params(), signal });
    const items = page.items || [];
    state.names = await datasetNames(signal, items.map((r) => r.dataset_id));
    if (mine !== seq) return items; // a newer sort or filter has been asked for
    // Keep the older pages the reader opened: refresh only the first.
    const fresh = new Set(items.map((r) => r.id));
    rows = items.concat(rows.slice(PAGE).filter((r) => !fresh.has(r.id)));
    if (rows.length <= PAGE) cursor = page.next_cursor;
    showError(error, null);
    draw();
    return items;
  };
  const reload = () => {
    rows = [];
    cursor = null;
    drawHead();
    drawTags();
    table.dataset.query = "";
    load().catch((err) => isAbort(err) || showError(error, err));
  };

  let typing = null;
  q.addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(() => { state.q = q.value.trim(); reload(); }, 250);
  });
  tagInput.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter") {
      ev.preventDefault();
      addTag(tagInput.value);
    }
  });
  tagInput.addEventListener("change", () => tagInput.value.trim() && addTag(tagInput.value));
  status.addEventListener("change", () => { state.status = status.value; reload(); });
  compare.addEventListener("click", () => {
    location.hash = `#/compare/${[...state.selected.keys()].map(encodeURIComponent).join(",")}`;
  });
  clear.addEventListener("click", () => {
    state.selected.clear();
    drawSelection();
    draw();
  });
  more.addEventListener("click", async () => {
    try {
      const page = await api("v1/runs", { params: params({ cursor }), signal });
      rows = rows.concat(page.items || []);
      cursor = page.next_cursor;
      draw();
    } catch (err) {
      if (!isAbort(err)) showError(error, err);
    }
  });

  drawHead();
  drawSelection();
  (async () => {
    // Refresh quickly while something is moving, slowly otherwise.
    for (;;) {
      let busy = false;
      try {
        busy = (await load()).some((r) => !FINAL_STATUSES.has(r.status));
      } catch (err) {
        if (isAbort(err)) return;
        showError(error, err);
        if (err.status === 401) return; // the key form re-renders the view
      }
      try {
        await sleep(busy ? 2000 : 6000, signal);
      } catch {
        return;
      }
    }
  })();
}

function runRow(run, state, onTag, onSelect) {
  const hp = run.hyperparameters || {};
  const box = h("input", { type: "checkbox", class: "pick-run", value: run.id, "aria-label": `Select ${run.name || run.id}` });
  box.checked = state.selected.has(run.id);
  box.addEventListener("change", () => {
    if (box.checked) state.selected.set(run.id, run);
    else state.selected.delete(run.id);
    onSelect();
  });
  const optimizer = typeof hp.optimizer === "object" ? hp.optimizer?.name : hp.optimizer;
  const row = h("tr", { "data-run-id": run.id, class: state.selected.has(run.id) ? "picked" : "" },
    h("td", { class: "pick" }, box),
    h("td", { class: "name" }, h("a", { href: `#/runs/${encodeURIComponent(run.id)}` }, breakable(run.name || run.id.slice(0, 8))),
      run.sweep_id ? h("div", { class: "small" }, h("a", { href: `#/sweeps/${encodeURIComponent(run.sweep_id)}` }, "sweep")) : null),
    h("td", {}, statusBadge(run.status)),
    h("td", { class: "small" }, kindLabel(run.kind)),
    h("td", { class: "small nowrap", title: run.dataset_id }, datasetName(run, state.names)),
    h("td", { class: "tags" }, tagChips(run.tags, onTag)),
    h("td", { class: "num" }, fmt(learningRate(run)), optimizer ? h("div", { class: "muted small" }, optimizer) : null),
    h("td", { class: "num" }, hp.epochs ?? "–"),
    h("td", { class: "num" }, hp.hidden_layers ? fmtValue(hp.hidden_layers) : "–"),
    ...METRIC_COLUMNS.map((m) => h("td", { class: "num", "data-metric": m }, fmt(metric(run, m)))),
    h("td", { class: "num nowrap" }, fmtDuration(run.duration_s)),
    h("td", { class: "small" }, when(run.created_at, true)));
  box.addEventListener("change", () => row.classList.toggle("picked", box.checked));
  return row;
}
