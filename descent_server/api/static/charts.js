// Hand-drawn canvas charts: line chart, scatter with fit line and decision regions (the loss
// surface is in surface.js). Each draw call redraws the whole canvas at its CSS size.

export const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
  "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
const REGION_ALPHA = 0.28;
export const AXIS = "#555";
const GRID = "#e4e4e4";
const FONT = "12px system-ui, sans-serif";

/** Format a number compactly for ticks and read-outs. */
export function fmt(v) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  if (!Number.isFinite(v)) return v > 0 ? "∞" : "−∞";
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e5 || a < 1e-3)) return v.toExponential(2).replace(/\.?0+e/, "e").replace("e+", "e");
  return String(Number(v.toPrecision(4)));
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
  ctx.clearRect(0, 0, w, h);
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
  for (let t = Math.ceil(min / step) * step; t <= max + step * 1e-9; t += step) {
    ticks.push(Math.abs(t) < step * 1e-9 ? 0 : t);
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
  return ticks.length ? ticks : [min, max];
}

function padRange(min, max, frac = 0.05) {
  if (!Number.isFinite(min) || !Number.isFinite(max)) return [0, 1];
  if (min === max) {
    const d = Math.abs(min) * 0.1 || 1;
    return [min - d, max + d];
  }
  const d = (max - min) * frac;
  return [min - d, max + d];
}

/** Draw axes, grid and labels; return pixel mappers for the plot area. */
export function frame(ctx, w, h, xr, yr, opts = {}) {
  const m = { l: 62, r: 12, t: opts.title ? 24 : 10, b: opts.xLabel ? 42 : 28 };
  const pw = w - m.l - m.r;
  const ph = h - m.t - m.b;
  const logY = Boolean(opts.logY);
  const ly = (v) => (logY ? Math.log10(v) : v);
  const [y0, y1] = [ly(yr[0]), ly(yr[1])];
  const X = (v) => m.l + ((v - xr[0]) / (xr[1] - xr[0] || 1)) * pw;
  const Y = (v) => m.t + ph - ((ly(v) - y0) / (y1 - y0 || 1)) * ph;
  ctx.strokeStyle = GRID;
  ctx.fillStyle = AXIS;
  ctx.lineWidth = 1;
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  const xTicks = linearTicks(xr[0], xr[1], Math.max(2, Math.floor(pw / 80)), opts.integerX ? 1 : 0);
  for (const t of xTicks) {
    const x = X(t);
    if (opts.grid !== false) line(ctx, x, m.t, x, m.t + ph);
    ctx.fillText(fmt(t), x, m.t + ph + 5);
  }
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  const yTicks = logY ? logTicks(yr[0], yr[1]) : linearTicks(yr[0], yr[1], Math.max(2, Math.floor(ph / 45)));
  for (const t of yTicks) {
    const y = Y(t);
    if (opts.grid !== false) line(ctx, m.l, y, m.l + pw, y);
    ctx.fillText(fmt(t), m.l - 6, y);
  }
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
  return { X, Y, m, pw, ph };
}

export function line(ctx, x0, y0, x1, y1) {
  ctx.beginPath();
  ctx.moveTo(Math.round(x0) + 0.5, Math.round(y0) + 0.5);
  ctx.lineTo(Math.round(x1) + 0.5, Math.round(y1) + 0.5);
  ctx.stroke();
}

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
    ctx.fillStyle = it.color;
    if (it.marker === "x") {
      ctx.strokeStyle = it.color;
      ctx.lineWidth = 2;
      line(ctx, x + 5, y - 5, x + 13, y + 3);
      line(ctx, x + 5, y + 3, x + 13, y - 5);
    } else ctx.fillRect(x, y - 2, 18, 4);
    ctx.fillStyle = "#222";
    ctx.fillText(it.name, x + 24, y);
    y += 17;
  }
}

function emptyMessage(ctx, w, h, text) {
  ctx.fillStyle = "#777";
  ctx.textAlign = "center";
  ctx.textBaseline = "middle";
  ctx.fillText(text, w / 2, h / 2);
}

/**
 * Draw line series [{name, color, points: [[x, y|null], ...]}]; nulls break the line.
 * opts: logY, xLabel, yLabel, markerX (a vertical line at that x), empty (text when no data).
 */
export function lineChart(canvas, series, opts = {}) {
  const { ctx, w, h } = setup(canvas);
  const ok = (y) => y !== null && Number.isFinite(y) && (!opts.logY || y > 0);
  let [xmin, xmax, ymin, ymax] = [Infinity, -Infinity, Infinity, -Infinity];
  for (const s of series) {
    for (const [x, y] of s.points) {
      xmin = Math.min(xmin, x);
      xmax = Math.max(xmax, x);
      if (ok(y)) {
        ymin = Math.min(ymin, y);
        ymax = Math.max(ymax, y);
      }
    }
  }
  if (!Number.isFinite(ymin)) {
    emptyMessage(ctx, w, h, opts.empty || "No data yet");
    return 0;
  }
  if (xmin === xmax) xmax = xmin + 1;
  let yr;
  if (opts.logY) {
    yr = ymin === ymax ? [ymin / 2, ymax * 2] : [ymin / 1.2, ymax * 1.2];
  } else {
    yr = padRange(Math.min(ymin, opts.zeroY ? 0 : ymin), ymax);
  }
  const f = frame(ctx, w, h, [xmin, xmax], yr, opts);
  ctx.save();
  ctx.beginPath();
  ctx.rect(f.m.l, f.m.t, f.pw, f.ph);
  ctx.clip();
  let drawn = 0;
  for (const s of series) {
    ctx.strokeStyle = s.color;
    ctx.fillStyle = s.color;
    ctx.lineWidth = 2;
    ctx.setLineDash(s.dashed ? [6, 4] : []);
    ctx.beginPath();
    let pen = false;
    for (const [x, y] of s.points) {
      if (!ok(y)) {
        pen = false;
        continue;
      }
      const px = f.X(x);
      const py = f.Y(y);
      if (pen) ctx.lineTo(px, py);
      else ctx.moveTo(px, py);
      pen = true;
      drawn++;
    }
    ctx.stroke();
    const valid = s.points.filter(([, y]) => ok(y));
    if (valid.length === 1) {
      ctx.beginPath();
      ctx.arc(f.X(valid[0][0]), f.Y(valid[0][1]), 3, 0, 2 * Math.PI);
      ctx.fill();
    }
  }
  ctx.setLineDash([]);
  if (opts.markerX !== undefined && opts.markerX !== null) {
    ctx.strokeStyle = "rgba(0,0,0,0.45)";
    ctx.lineWidth = 1;
    line(ctx, f.X(opts.markerX), f.m.t, f.X(opts.markerX), f.m.t + f.ph);
  }
  ctx.restore();
  if (series.length > 1 || opts.legend) legend(ctx, f, series);
  return drawn;
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

/**
 * Draw decision regions from a snapshot grid (rows = x2 ascending, columns = x1 ascending)
 * over extent [x1min, x1max, x2min, x2max], with data points [[x1, x2, classIndex], ...].
 */
export function boundaryChart(canvas, grid, extent, classes, points, opts = {}) {
  const { ctx, w, h } = setup(canvas);
  const [x1min, x1max, x2min, x2max] = extent;
  const f = frame(ctx, w, h, [x1min, x1max], [x2min, x2max], { ...opts, grid: false });
  ctx.save();
  ctx.beginPath();
  ctx.rect(f.m.l, f.m.t, f.pw, f.ph);
  ctx.clip();
  if (grid && grid.length) {
    const rows = grid.length;
    const cols = grid[0].length;
    const img = document.createElement("canvas");
    img.width = cols;
    img.height = rows;
    const ictx = img.getContext("2d");
    const data = ictx.createImageData(cols, rows);
    const rgb = PALETTE.map(hexRgb);
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const [cr, cg, cb] = rgb[grid[r][c] % rgb.length];
        // Blend with white by hand so the regions stay light under the points.
        const o = ((rows - 1 - r) * cols + c) * 4;
        data.data.set([mix(cr), mix(cg), mix(cb), 255], o);
      }
    }
    ictx.putImageData(data, 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(img, f.m.l, f.m.t, f.pw, f.ph);
  }
  const r = points.length > 1000 ? 1.6 : 2.5;
  for (const [x1, x2, k] of points) {
    ctx.fillStyle = PALETTE[k % PALETTE.length];
    ctx.globalAlpha = 0.7;
    ctx.beginPath();
    ctx.arc(f.X(x1), f.Y(x2), r, 0, 2 * Math.PI);
    ctx.fill();
  }
  ctx.globalAlpha = 1;
  ctx.restore();
  ctx.strokeStyle = AXIS;
  ctx.strokeRect(f.m.l + 0.5, f.m.t + 0.5, f.pw, f.ph);
  if (classes && classes.length) {
    legend(ctx, f, classes.map((c, k) => ({ name: String(c), color: PALETTE[k % PALETTE.length] })));
  }
  if (!grid) emptyMessage(ctx, w, h, opts.empty || "No snapshot yet");
}

function hexRgb(hex) {
  const n = parseInt(hex.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

function mix(c) {
  return Math.round(255 + (c - 255) * REGION_ALPHA);
}
