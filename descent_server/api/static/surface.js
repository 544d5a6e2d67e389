// The loss surface as log-loss colours with contour lines, and the descent path over it.

import { AXIS, frame, legend, line, setup } from "./charts.js";

// A few stops of matplotlib's viridis, interpolated.
const VIRIDIS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];

function viridis(t) {
  const x = Math.min(1, Math.max(0, t)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(x));
  const f = x - i;
  return VIRIDIS[i].map((c, k) => Math.round(c + (VIRIDIS[i + 1][k] - c) * f));
}

const surfaceCache = new WeakMap(); // surface -> {key, image}: the background per canvas size

/** Render log-loss as a smooth viridis image with contour lines, sized to the plot area. */
function surfaceImage(surface, f) {
  const { a, b, loss } = surface;
  const z = loss.map((row) => row.map((v) => (v !== null && v > 0 ? Math.log10(v) : null)));
  let lo = Infinity;
  let hi = -Infinity;
  for (const row of z) for (const v of row) if (v !== null) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
  const small = document.createElement("canvas");
  small.width = a.length;
  small.height = b.length;
  const sctx = small.getContext("2d");
  const data = sctx.createImageData(a.length, b.length);
  for (let j = 0; j < b.length; j++) {
    for (let i = 0; i < a.length; i++) {
      // Row 0 is the smallest b: it goes at the bottom of the image.
      const o = ((b.length - 1 - j) * a.length + i) * 4;
      const v = z[j][i];
      data.data.set(v === null ? [255, 255, 255, 255] : [...viridis((v - lo) / (hi - lo || 1)), 255], o);
    }
  }
  sctx.putImageData(data, 0, 0);
  const dpr = window.devicePixelRatio || 1;
  const image = document.createElement("canvas");
  image.width = Math.round(f.pw * dpr);
  image.height = Math.round(f.ph * dpr);
  const ctx = image.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(small, 0, 0, f.pw, f.ph);
  // Contour lines by marching squares, at evenly spaced log-loss levels.
  const X = (v) => ((v - a[0]) / (a[a.length - 1] - a[0] || 1)) * f.pw;
  const Y = (v) => f.ph - ((v - b[0]) / (b[b.length - 1] - b[0] || 1)) * f.ph;
  ctx.strokeStyle = "rgba(255,255,255,0.55)";
  ctx.lineWidth = 1;
  ctx.beginPath();
  const levels = 14;
  for (let k = 1; k < levels; k++) {
    const level = lo + ((hi - lo) * k) / levels;
    for (let j = 0; j + 1 < b.length; j++) {
      for (let i = 0; i + 1 < a.length; i++) {
        const c = [[a[i], b[j], z[j][i]], [a[i + 1], b[j], z[j][i + 1]],
          [a[i + 1], b[j + 1], z[j + 1][i + 1]], [a[i], b[j + 1], z[j + 1][i]]];
        if (c.some((p) => p[2] === null)) continue;
        const pts = [];
        for (let e = 0; e < 4; e++) {
          const [xa, ya, va] = c[e];
          const [xb, yb, vb] = c[(e + 1) % 4];
          if ((va < level) !== (vb < level)) {
            const t = (level - va) / (vb - va);
            pts.push([X(xa + t * (xb - xa)), Y(ya + t * (yb - ya))]);
          }
        }
        for (let p = 0; p + 1 < pts.length; p += 2) {
          ctx.moveTo(pts[p][0], pts[p][1]);
          ctx.lineTo(pts[p + 1][0], pts[p + 1][1]);
        }
      }
    }
  }
  ctx.stroke();
  return image;
}

/**
 * Draw the loss surface {a, b, loss (rows = b, columns = a)} as log-loss colours and contour
 * lines, with the descent path [[a, b], ...] and the optimum marked.
 */
export function contourChart(canvas, surface, path, opts = {}) {
  const { ctx, w, h } = setup(canvas);
  const { a, b } = surface;
  const f = frame(ctx, w, h, [a[0], a[a.length - 1]], [b[0], b[b.length - 1]], {
    ...opts,
    grid: false,
  });
  const key = `${f.pw}x${f.ph}x${window.devicePixelRatio || 1}`;
  let cached = surfaceCache.get(surface);
  if (!cached || cached.key !== key) {
    cached = { key, image: surfaceImage(surface, f) };
    surfaceCache.set(surface, cached);
  }
  ctx.save();
  ctx.beginPath();
  ctx.rect(f.m.l, f.m.t, f.pw, f.ph);
  ctx.clip();
  ctx.drawImage(cached.image, f.m.l, f.m.t, f.pw, f.ph);
  const pts = path.filter(([pa, pb]) => Number.isFinite(pa) && Number.isFinite(pb));
  if (pts.length) {
    ctx.strokeStyle = "#ff3b30";
    ctx.fillStyle = "#ff3b30";
    ctx.lineWidth = 2;
    ctx.beginPath();
    pts.forEach(([pa, pb], k) => (k ? ctx.lineTo(f.X(pa), f.Y(pb)) : ctx.moveTo(f.X(pa), f.Y(pb))));
    ctx.stroke();
    const [ca, cb] = pts[pts.length - 1];
    ctx.beginPath();
    ctx.arc(f.X(ca), f.Y(cb), 4, 0, 2 * Math.PI);
    ctx.fill();
  }
  if (surface.optimum && Number.isFinite(surface.optimum.a) && Number.isFinite(surface.optimum.b)) {
    const x = f.X(surface.optimum.a);
    const y = f.Y(surface.optimum.b);
    ctx.strokeStyle = "#fff";
    ctx.lineWidth = 2;
    line(ctx, x - 6, y - 6, x + 6, y + 6);
    line(ctx, x - 6, y + 6, x + 6, y - 6);
  }
  ctx.restore();
  ctx.strokeStyle = AXIS;
  ctx.strokeRect(f.m.l + 0.5, f.m.t + 0.5, f.pw, f.ph);
  legend(ctx, f, [{ name: "descent path", color: "#ff3b30" }, { name: "optimum", color: "#333", marker: "x" }]);
}

