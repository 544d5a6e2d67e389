// Decision regions of a classifier with two features, drawn from a snapshot grid.

import { AXIS, emptyMessage, frame, legend, PALETTE, setup } from "./charts.js";

const REGION_ALPHA = 0.28;

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
