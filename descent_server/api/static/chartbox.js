// One interactive line chart: the canvas, a toolbar (log y, reset zoom, PNG, CSV), a read-out
// of the epoch and values under the cursor, and drag-to-zoom over an epoch range.

import { fmt, lineChart, valueAt } from "./charts.js";
import { h } from "./dom.js";

const DRAG_MIN_PX = 5; // a shorter drag is a click, not a zoom
const HINT = "Hover for values · drag to zoom";

function csvCell(v) {
  if (v === null || v === undefined) return "";
  if (typeof v === "number") return Number.isFinite(v) ? String(v) : "";
  const s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Return the series as CSV: the x column, then one column per series (empty where missing). */
export function seriesCsv(series, xName = "epoch") {
  const xs = [...new Set(series.flatMap((s) => s.points.map((p) => p[0])))].sort((a, b) => a - b);
  const rows = [[xName, ...series.map((s) => s.name)]];
  for (const x of xs) rows.push([x, ...series.map((s) => valueAt(s.points, x))]);
  return rows.map((r) => r.map(csvCell).join(",")).join("\r\n") + "\r\n";
}

/** Save a blob as a file through a temporary link (no new window, allowed by the page's CSP). */
export function download(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = h("a", { href: url, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

function nearestX(points, x) {
  if (!points.length) return null;
  let lo = 0;
  let hi = points.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (points[mid][0] <= x) lo = mid;
    else hi = mid;
  }
  return Math.abs(points[lo][0] - x) <= Math.abs(points[hi][0] - x) ? points[lo][0] : points[hi][0];
}

/** A line chart with its tools; `el` goes in the page, `draw(series, opts)` (re)draws it. */
export class ChartBox {
  constructor({ id, label, file, log = false, xName = "epoch" }) {
    this.file = file;
    this.xName = xName;
    this.series = [];
    this.opts = {};
    this.zoom = null;
    this.hover = null;
    this.drag = null;
    this.frame = null;
    this.canvas = h("canvas", { id, role: "img", "aria-label": label, width: "600", height: "360", class: "zoomable" });
    this.logBox = h("input", { type: "checkbox", id: `${id}-log`, checked: log });
    this.resetButton = h("button", { type: "button", id: `${id}-reset`, class: "tool", disabled: true,
      title: "Show every epoch again (or double-click the chart)" }, "Reset zoom");
    const png = h("button", { type: "button", id: `${id}-png`, class: "tool", title: "Download this chart as PNG" }, "PNG");
    const csv = h("button", { type: "button", id: `${id}-csv`, class: "tool", title: "Download this chart's data as CSV" }, "CSV");
    this.readout = h("output", { id: `${id}-readout`, class: "readout small muted", for: id }, HINT);
    this.el = h("div", { class: "chart-box" },
      h("div", { class: "chart-tools small" }, h("label", { class: "inline" }, this.logBox, " log y"),
        this.resetButton, png, csv),
      this.canvas, this.readout);

    this.logBox.addEventListener("change", () => this.redraw());
    this.resetButton.addEventListener("click", () => this.resetZoom());
    png.addEventListener("click", () => this.savePng());
    csv.addEventListener("click", () => download(
      new Blob([seriesCsv(this.series, this.xName)], { type: "text/csv" }), `${this.file}.csv`));
    this.canvas.addEventListener("pointerdown", (e) => this.onDown(e));
    this.canvas.addEventListener("pointermove", (e) => this.onMove(e));
    this.canvas.addEventListener("pointerup", (e) => this.onUp(e));
    this.canvas.addEventListener("pointerleave", () => this.setHover(null));
    this.canvas.addEventListener("dblclick", () => this.resetZoom());
  }

  /** Draw these series (lineChart's options); zoom, hover and the log toggle are kept. */
  draw(series, opts = {}) {
    this.series = series;
    this.opts = opts;
    this.redraw();
  }

  redraw() {
    const selection = this.drag?.moved ? [this.drag.x0, this.drag.x1] : null;
    this.frame = lineChart(this.canvas, this.series, {
      ...this.opts, logY: this.logBox.checked, xRange: this.zoom, hoverX: this.hover, selection });
    const [lo, hi] = this.frame ? this.frame.xr : ["", ""];
    Object.assign(this.canvas.dataset, { xMin: String(lo), xMax: String(hi), log: String(this.logBox.checked) });
  }

  /** The x under a pointer event, clamped to the plot's x range. */
  xAt(e) {
    const f = this.frame;
    if (!f) return null;
    const px = Math.min(f.m.l + f.pw, Math.max(f.m.l, e.offsetX));
    return f.x(px);
  }

  onDown(e) {
    if (e.button !== 0 || !this.frame) return;
    const x = this.xAt(e);
    this.drag = { px: e.offsetX, x0: x, x1: x, moved: false };
    this.canvas.setPointerCapture(e.pointerId);
  }

  onMove(e) {
    const x = this.xAt(e);
    if (this.drag) {
      this.drag.x1 = x;
      this.drag.moved = Math.abs(e.offsetX - this.drag.px) >= DRAG_MIN_PX;
    }
    this.setHover(x);
  }

  onUp(e) {
    const drag = this.drag;
    this.drag = null;
    if (drag?.moved) {
      let [lo, hi] = [Math.min(drag.x0, drag.x1), Math.max(drag.x0, drag.x1)];
      if (this.opts.integerX) [lo, hi] = [Math.floor(lo), Math.ceil(hi)];
      if (hi > lo) {
        this.zoom = [lo, hi];
        this.resetButton.disabled = false;
      }
    }
    this.hover = null; // redraw in the new range, then read out what is under the cursor
    this.setHover(this.xAt(e));
  }

  resetZoom() {
    this.zoom = null;
    this.resetButton.disabled = true;
    this.redraw();
  }

  /** Show the values at the data x nearest to `x` (null: clear the read-out). */
  setHover(x) {
    const main = this.series.reduce((a, s) => (s.points.length > (a?.points.length ?? -1) ? s : a), null);
    const at = x === null || !main ? null : nearestX(main.points, x);
    if (at === this.hover && !this.drag) return;
    this.hover = at;
    if (at === null) {
      this.readout.textContent = HINT;
      delete this.readout.dataset.x;
    } else {
      const values = this.series.map((s) => `${s.name} ${fmt(valueAt(s.points, at), 6)}`);
      this.readout.textContent = [`${this.xName} ${at}`, ...values].join(" · ");
      this.readout.dataset.x = String(at);
    }
    this.redraw();
  }

  savePng() {
    this.hover = null; // the picture without the read-out line
    this.redraw();
    this.canvas.toBlob((blob) => blob && download(blob, `${this.file}.png`), "image/png");
  }
}
