// Hand-drawn canvas charts: axes, line chart, scatter with fit line (decision regions are in
// boundary.js, the loss surface in surface.js, zoom/hover/downloads in chartbox.js).
// Each draw call redraws the whole canvas at its CSS size.

export const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
  "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
export const AXIS = "#555";
const GRID = "#e4e4e4";
const FONT = "12px system-ui, sans-serif";

/** Format a number compactly for ticks and read-outs (`digits` significant digits). */
export function fmt(v, digits = 4, expFrom = 1e5) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  if (!Number.isFinite(v)) return v > 0 ? "∞" : "−∞";
  const a = Math.abs(v);
  if (a !== 0 && (a >= expFrom || a < 1e-3)) {
    return v.toExponential(digits - 1).replace(/\.?0+e/, "e").replace("e+", "e");
  }
  return String(Number(v.toPrecision(digits)));
}

/**
 * Label ticks with the fewest digits that still state each tick exactly. A fixed precision
 * printed "-100" twice for b's ticks at -100.002 and -100.001.
 */
export function tickLabels(ticks) {
  const sorted = [...ticks].sort((p, q) => p - q);
  const gaps = sorted.slice(1).map((t, i) => t - sorted[i]).filter((d) => d > 0);
  // One notation per axis: "3e5, 1e5, 3e4", not "3e5, 1e5, 30000".
  const expFrom = Math.max(...ticks.map(Math.abs)) >= 1e5 ? 1e4 : 1e5;
  for (let digits = 1; digits <= 15; digits++) {
    const labels = ticks.map((t) => fmt(t, digits, expFrom));
    const exact = ticks.every((t, i) => {
      const tol = 1e-3 * Math.min(...gaps.concat(Math.abs(t) || 1).map(Math.abs));
      return Math.abs(Number(labels[i].replace("−", "-")) - t) <= tol;
    });
    if (exact && new Set(labels).size === labels.length) return labels;
  }
  return ticks.map((t) => fmt(t, 15, expFrom));
}

export function setup(canvas) {
  const dpr = window.devicePixelRatio || 1;
  const w = Math.max(120, Math.round(canvas.clientWidth || canvas.width));
  const h = Math.max(100, Math.round(canvas.clientHeight || canvas.height));
  if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.fillStyle = "#fff"; // a downloaded PNG reads on any viewer's background
  ctx.fillRect(0, 0, w, h);
  ctx.font = FONT;
  return { ctx, w, h };
}

function niceStep(span, count) {
  const raw = span / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  return (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
}

function linearTicks(min, max, count, minStep = 0) {
  if (!(max > min)) return [min];
  const step = Math.max(minStep, niceStep(max - min, count));
  const ticks = [];
  // Integer multiples of the step, so -100.001 is not -100.00099999999999.
  for (let k = Math.ceil(min / step - 1e-9); k * step <= max + step * 1e-9; k++) {
    const t = k * step;
    ticks.push(k === 0 ? 0 : step < 1 ? Number(t.toPrecision(15)) : t);
  }
  return ticks;
}

function logTicks(min, max) {
  const lo = Math.floor(Math.log10(min));
  const hi = Math.ceil(Math.log10(max));
  const every = Math.max(1, Math.ceil((hi - lo) / 6));
  // Few decades: more ticks per decade, so the axis still has several labels.
  const steps = hi - lo <= 1 ? [1, 2, 5] : hi - lo <= 3 ? [1, 3] : [1];
  const ticks = [];
  for (let e = lo; e <= hi; e += every) {
    for (const m of steps) {
      const t = m * 10 ** e;
      if (t >= min * 0.999 && t <= max * 1.001) ticks.push(t);
    }
  }
  return ticks.length >= 2 ? ticks : [min, max];
}

function padRange(min, max, frac = 0.05) {
  if (!Number.isFinite(min) || !Number.isFinite(max)) return [0, 1];
  // A constant series (up to rounding) gets a visible band instead of a 1e-15 wide axis.
  if (max - min <= Math.abs(max) * 1e-9) {
    const mid = (min + max) / 2;
    const d = Math.abs(mid) * 0.1 || 1;
    return [mid - d, mid + d];
  }
  const d = (max - min) * frac;
  return [min - d, max + d];
}

/**
 * Draw axes, grid and labels; return pixel mappers for the plot area (and `x(px)`, back).
 * opts: logY, title, xLabel, yLabel, integerX, grid, top (extra room above the plot).
 */
export function frame(ctx, w, h, xr, yr, opts = {}) {
  const logY = Boolean(opts.logY);
  const top = (opts.title ? 24 : 10) + (opts.top || 0);
  const ph = h - top - (opts.xLabel ? 42 : 28);
  const yTicks = logY ? logTicks(yr[0], yr[1]) : linearTicks(yr[0], yr[1], Math.max(2, Math.floor(ph / 45)));
  const yText = tickLabels(yTicks);
  // The left margin fits the widest y label, so long labels never run off the canvas.
  const widest = Math.max(0, ...yText.map((t) => ctx.measureText(t).width));
  const m = { l: Math.ceil(widest) + (opts.yLabel ? 28 : 12), r: 12, t: top, b: opts.xLabel ? 42 : 28 };
  const pw = w - m.l - m.r;
  const ly = (v) => (logY ? Math.log10(v) : v);
  const [y0, y1] = [ly(yr[0]), ly(yr[1])];
  const X = (v) => m.l + ((v - xr[0]) / (xr[1] - xr[0] || 1)) * pw;
  const Y = (v) => m.t + ph - ((ly(v) - y0) / (y1 - y0 || 1)) * ph;
  const x = (px) => xr[0] + ((px - m.l) / pw) * (xr[1] - xr[0]);
  ctx.strokeStyle = GRID;
  ctx.fillStyle = AXIS;
  ctx.lineWidth = 1;
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  const xTicks = linearTicks(xr[0], xr[1], Math.max(2, Math.floor(pw / 80)), opts.integerX ? 1 : 0);
  tickLabels(xTicks).forEach((label, i) => {
    const px = X(xTicks[i]);
    if (opts.grid !== false) line(ctx, px, m.t, px, m.t + ph);
    ctx.fillText(label, px, m.t + ph + 5);
  });
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  yText.forEach((label, i) => {
    const py = Y(yTicks[i]);
    if (opts.grid !== false) line(ctx, m.l, py, m.l + pw, py);
    ctx.fillText(label, m.l - 6, py);
  });
  ctx.strokeStyle = AXIS;
  ctx.strokeRect(m.l + 0.5, m.t + 0.5, pw, ph);
  ctx.textAlign = "center";
  ctx.textBaseline = "bottom";
  if (opts.xLabel) ctx.fillText(opts.xLabel, m.l + pw / 2, h - 4);
  if (opts.title) {
    ctx.textBaseline = "top";
    ctx.fillText(opts.title, m.l + pw / 2, 4);
  }
  if (opts.yLabel) {
    ctx.save();
    ctx.translate(12, m.t + ph / 2);
    ctx.rotate(-Math.PI / 2);
    ctx.textBaseline = "middle";
    ctx.fillText(opts.yLabel, 0, 0);
    ctx.restore();
  }
  return { X, Y, x, m, pw, ph, xr, yr };
}

export function line(ctx, x0, y0, x1, y1) {
  ctx.beginPath();
  ctx.moveTo(Math.round(x0) + 0.5, Math.round(y0) + 0.5);
  ctx.lineTo(Math.round(x1) + 0.5, Math.round(y1) + 0.5);
  ctx.stroke();
}

function swatch(ctx, it, x, y) {
  ctx.fillStyle = it.color;
  if (it.marker === "x") {
    ctx.strokeStyle = it.color;
    ctx.lineWidth = 2;
    line(ctx, x + 5, y - 5, x + 13, y + 3);
    line(ctx, x + 5, y + 3, x + 13, y - 5);
  } else ctx.fillRect(x, y - 2, 18, 4);
}

/** Draw a boxed legend in a corner of the plot (for pictures without curves to hide). */
export function legend(ctx, f, items, where = "right") {
  ctx.textAlign = "left";
  ctx.textBaseline = "middle";
  let width = 0;
  for (const it of items) width = Math.max(width, ctx.measureText(it.name).width);
  const x = where === "left" ? f.m.l + 12 : f.m.l + f.pw - width - 34;
  let y = f.m.t + 12;
  ctx.fillStyle = "rgba(255,255,255,0.85)";
  ctx.fillRect(x - 6, f.m.t + 3, width + 36, items.length * 17 + 4);
  for (const it of items) {
    swatch(ctx, it, x, y);
    ctx.fillStyle = "#222";
    ctx.fillText(it.name, x + 24, y);
    y += 17;
  }
}

/** Lay legend items out in rows across `width`; return the rows and their height. */
function legendRows(ctx, items, width) {
  const rows = [[]];
  let x = 0;
  for (const it of items) {
    const w = 30 + ctx.measureText(it.name).width;
    if (x > 0 && x + w > width) {
      rows.push([]);
      x = 0;
    }
    rows[rows.length - 1].push({ it, x });
    x += w + 12;
  }
  return { rows, height: rows.length * 17 + 4 };
}

export function emptyMessage(ctx, w, h, text) {
  ctx.fillStyle = "#777";
  ctx.textAlign = "center";
  ctx.textBaseline = "middle";
  ctx.fillText(text, w / 2, h / 2);
}

/** Return the series' value at x (exact epoch), or null. */
export function valueAt(points, x) {
  let lo = 0;
  let hi = points.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (points[mid][0] === x) return points[mid][1];
    if (points[mid][0] < x) lo = mid + 1;
    else hi = mid - 1;
  }
  return null;
}

/**
 * Draw line series [{name, color, points: [[x, y|null], ...]}] (x ascending); nulls break the line.
 * opts: logY, xLabel, yLabel, title, markerX (a vertical line at that x), empty (text when no
 * data), xRange ([lo, hi]: zoom), hoverX (a read-out line with dots), selection ([x0, x1]).
 * Returns the frame (pixel mappers), or null when there is nothing to draw.
 */
export function lineChart(canvas, series, opts = {}) {
  const { ctx, w, h } = setup(canvas);
  const ok = (y) => y !== null && Number.isFinite(y) && (!opts.logY || y > 0);
  const [lo, hi] = opts.xRange || [-Infinity, Infinity];
  let [xmin, xmax, ymin, ymax] = [Infinity, -Infinity, Infinity, -Infinity];
  for (const s of series) {
    for (const [x, y] of s.points) {
      if (x < lo || x > hi) continue;
      xmin = Math.min(xmin, x);
      xmax = Math.max(xmax, x);
      if (ok(y)) {
        ymin = Math.min(ymin, y);
        ymax = Math.max(ymax, y);
      }
    }
  }
  if (opts.xRange) [xmin, xmax] = opts.xRange;
  if (!Number.isFinite(ymin)) {
    emptyMessage(ctx, w, h, opts.logY && series.some((s) => s.points.some(([, y]) => Number.isFinite(y)))
      ? "No positive values to draw on a log scale" : opts.empty || "No data yet");
    return null;
  }
  if (xmin === xmax) xmax = xmin + 1;
  let yr;
  if (opts.logY) {
    yr = ymin === ymax ? [ymin / 2, ymax * 2] : [ymin / 1.2, ymax * 1.2];
  } else {
    yr = padRange(Math.min(ymin, opts.zeroY ? 0 : ymin), ymax);
  }
  // Legends sit above the plot: inside it they hid the accuracy and weight-norm curves.
  const named = series.length > 1 || opts.legend;
  const band = named ? legendRows(ctx, series, w - 24) : { rows: [], height: 0 };
  const f = frame(ctx, w, h, [xmin, xmax], yr, { ...opts, top: band.height });
  ctx.textAlign = "left";
  ctx.textBaseline = "middle";
  band.rows.forEach((row, r) => {
    for (const { it, x } of row) {
      const y = f.m.t - band.height + 9 + r * 17;
      swatch(ctx, it, f.m.l + x, y);
      ctx.fillStyle = "#222";
      ctx.fillText(it.name, f.m.l + x + 24, y);
    }
  });
  ctx.save();
  ctx.beginPath();
  ctx.rect(f.m.l, f.m.t, f.pw, f.ph);
  ctx.clip();
  if (opts.selection) {
    const [a, b] = opts.selection.map(f.X);
    ctx.fillStyle = "rgba(31,95,191,0.15)";
    ctx.fillRect(Math.min(a, b), f.m.t, Math.abs(b - a), f.ph);
  }
  let drawn = 0;
  for (const s of series) {
    ctx.strokeStyle = s.color;
    ctx.fillStyle = s.color;
    ctx.lineWidth = 2;
    ctx.setLineDash(s.dashed ? [6, 4] : []);
    ctx.beginPath();
    let pen = false;
    let valid = null;
    let count = 0;
    for (const [x, y] of s.points) {
      if (!ok(y) || x < xmin || x > xmax) {
        pen = false;
        continue;
      }
      const px = f.X(x);
      const py = f.Y(y);
      if (pen) ctx.lineTo(px, py);
      else ctx.moveTo(px, py);
      pen = true;
      valid = [px, py];
      count++;
    }
    ctx.stroke();
    if (count === 1) {
      ctx.beginPath();
      ctx.arc(valid[0], valid[1], 3, 0, 2 * Math.PI);
      ctx.fill();
    }
    drawn += count;
  }
  ctx.setLineDash([]);
  ctx.lineWidth = 1;
  for (const [x, style] of [[opts.markerX, "rgba(0,0,0,0.45)"], [opts.hoverX, "rgba(0,0,0,0.7)"]]) {
    if (x === undefined || x === null) continue;
    ctx.strokeStyle = style;
    line(ctx, f.X(x), f.m.t, f.X(x), f.m.t + f.ph);
  }
  if (opts.hoverX !== undefined && opts.hoverX !== null) {
    for (const s of series) {
      const y = valueAt(s.points, opts.hoverX);
      if (!ok(y)) continue;
      ctx.fillStyle = s.color;
      ctx.beginPath();
      ctx.arc(f.X(opts.hoverX), f.Y(y), 4, 0, 2 * Math.PI);
      ctx.fill();
    }
  }
  ctx.restore();
  return { ...f, drawn };
}

/** Draw data points [[x, y]] and the line y = a·x + b (when given). */
export function fitChart(canvas, points, fitLine, opts = {}) {
  const { ctx, w, h } = setup(canvas);
  if (!points.length) {
    emptyMessage(ctx, w, h, opts.empty || "No data");
    return;
  }
  const xs = points.map((p) => p[0]);
  const ys = points.map((p) => p[1]);
  const xr = padRange(Math.min(0, ...xs), Math.max(...xs));
  const yr = padRange(Math.min(0, ...ys), Math.max(...ys), 0.15);
  const f = frame(ctx, w, h, xr, yr, opts);
  ctx.save();
  ctx.beginPath();
  ctx.rect(f.m.l, f.m.t, f.pw, f.ph);
  ctx.clip();
  if (fitLine && Number.isFinite(fitLine.a) && Number.isFinite(fitLine.b)) {
    ctx.strokeStyle = PALETTE[3];
    ctx.lineWidth = 2;
    ctx.beginPath();
    ctx.moveTo(f.X(xr[0]), f.Y(fitLine.a * xr[0] + fitLine.b));
    ctx.lineTo(f.X(xr[1]), f.Y(fitLine.a * xr[1] + fitLine.b));
    ctx.stroke();
  }
  ctx.fillStyle = PALETTE[0];
  const r = points.length > 500 ? 2 : 4;
  for (const [x, y] of points) {
    ctx.beginPath();
    ctx.arc(f.X(x), f.Y(y), r, 0, 2 * Math.PI);
    ctx.fill();
  }
  ctx.restore();
  // A rising line and its data leave the top-left corner empty, a falling one the top right.
  if (fitLine) {
    legend(ctx, f, [{ name: "data", color: PALETTE[0] }, { name: fitLine.label || "fit", color: PALETTE[3] }],
      fitLine.a >= 0 ? "left" : "right");
  }
}
