// The run view's charts and the epoch scrubber. Everything is drawn from JSON in the browser,
// so charts update with each epoch that arrives.

import { api, apiBlob, isMlp } from "./api.js";
import { boundaryChart } from "./boundary.js";
import { ChartBox, download } from "./chartbox.js";
import { fitChart, fmt, PALETTE } from "./charts.js";
import { datasetColumns } from "./datasets.js";
import { h, isAbort } from "./dom.js";
import { contourChart } from "./surface.js";

const MAX_DRAWN_POINTS = 3000; // data points drawn under a boundary or fit line

function panel(title, ...children) {
  const id = `panel-${title.toLowerCase().replace(/[^a-z0-9]+/g, "-")}`;
  return h("section", { class: "chart-panel", "aria-labelledby": id }, h("h2", { id }, title), ...children);
}

function canvas(id, label) {
  return h("canvas", { id, role: "img", "aria-label": label, width: "600", height: "360" });
}

function paramSeries(history) {
  // {a, b} or {weights: [...], bias}: one named series per scalar parameter.
  const series = new Map();
  for (const row of history) {
    const p = row.params || {};
    const scalars = Array.isArray(p.weights)
      ? [...p.weights.map((w, i) => [`w${i + 1}`, w]), ["bias", p.bias]]
      : Object.entries(p).filter(([, v]) => typeof v === "number" || v === null);
    for (const [k, v] of scalars) {
      if (!series.has(k)) series.set(k, []);
      series.get(k).push([row.epoch, v]);
    }
  }
  return series;
}

function normSeries(history, key) {
  const series = new Map();
  for (const row of history) {
    for (const [k, v] of Object.entries(row[key] || {})) {
      if (!series.has(k)) series.set(k, []);
      series.get(k).push([row.epoch, v]);
    }
  }
  return [...series.entries()].map(([name, points], i) => ({ name, points, color: PALETTE[i % PALETTE.length] }));
}

export class Visuals {
  constructor(container, feed, signal, onError) {
    const run = feed.run;
    this.feed = feed;
    this.signal = signal;
    this.onError = onError;
    this.runPath = `v1/runs/${encodeURIComponent(run.id)}`;
    const nFeatures = (run.features || []).length;
    this.mlp = isMlp(run.kind);
    this.regressor = run.kind === "mlp_regressor";
    this.boundary = run.kind === "mlp_classifier" && nFeatures === 2;
    this.fitFilm = this.regressor && nFeatures === 1; // the server draws its fit.png / fit.gif
    this.oneFeature = !this.mlp && nFeatures === 1;
    // A classifier's second chart is its accuracy, a regressor's its mean absolute error.
    this.scoreKeys = this.regressor ? ["mae", "val_mae"] : ["accuracy", "val_accuracy"];
    this.follow = true;
    this.playing = null;
    this.snap = { epochs: [] };
    this.grids = new Map();
    this.lastGrid = null;
    this.points = null;
    this.surface = null;
    this.pending = false;

    const file = (name) => `run-${run.id.slice(0, 8)}-${name}`;
    const box = (id, label, name, log = false) => new ChartBox({ id, label, file: file(name), log });
    this.loss = box("loss-chart", "Loss per epoch", "loss", !this.mlp);
    this.lossCanvas = this.loss.canvas;
    const panels = [panel("Loss", this.loss.el)];
    if (this.mlp) {
      this.acc = this.regressor
        ? box("mae-chart", "Mean absolute error per epoch", "mae")
        : box("accuracy-chart", "Accuracy per epoch", "accuracy");
      this.norms = box("norms-chart", "Weight norm per layer and epoch", "weight-norms");
      this.grads = box("grads-chart", "Gradient norm per layer and epoch", "grad-norms");
      panels.push(panel(this.regressor ? "Mean absolute error" : "Accuracy", this.acc.el),
        panel("Layer weight norms", this.norms.el),
        panel("Layer gradient norms", this.grads.el));
    } else {
      // One panel per parameter: a and b differ by orders of magnitude, so each gets its own axis.
      this.paramsBox = h("div", { class: "small-multiples" });
      this.paramBoxes = [];
      this.paramFile = file;
      panels.push(panel("Parameters", this.paramsBox));
    }

    this.slider = h("input", { type: "range", id: "epoch-slider", min: "0", max: "0", value: "0", step: "1" });
    this.sliderLabel = h("label", { for: "epoch-slider", id: "slider-label" }, "Epoch");
    this.play = h("button", { type: "button", id: "play-button", "aria-pressed": "false" }, "Play");
    this.slider.addEventListener("input", () => {
      this.follow = Number(this.slider.value) >= Number(this.slider.max);
      this.schedule();
    });
    this.play.addEventListener("click", () => this.togglePlay());
    const scrubber = h("div", { class: "scrubber" }, this.sliderLabel, this.slider, this.play);

    const visual = [];
    if (this.boundary) {
      this.boundaryCanvas = canvas("boundary-canvas", "Decision regions and data");
      visual.push(panel("Decision boundary", scrubber, this.boundaryCanvas));
    } else if (this.fitFilm) {
      this.fitImage = h("img", { id: "fit-image", class: "plot", width: "600", height: "360",
        alt: "Fitted curve and data: no snapshot yet" });
      const gif = h("button", { type: "button", id: "fit-gif", class: "tool" }, "Download fit.gif");
      gif.addEventListener("click", () => apiBlob(`${this.runPath}/plots/fit.gif`, {}, this.signal)
        .then((blob) => download(blob, file("fit.gif")))
        .catch((err) => isAbort(err) || this.onError(err)));
      visual.push(panel("Fit", scrubber, this.fitImage, h("div", { class: "actions" }, gif)));
    } else if (this.oneFeature) {
      this.fitCanvas = canvas("fit-chart", "Data and fitted line");
      this.contourCanvas = canvas("contour-chart", "Loss surface contour with the descent path");
      visual.push(panel("Fit", scrubber, this.fitCanvas), panel("Loss surface and descent path", this.contourCanvas));
    } else {
      visual.push(panel("Epochs", scrubber,
        h("p", { class: "muted" }, this.regressor ? "The fitted curve is drawn for one feature."
          : this.mlp ? "Decision boundaries are drawn for exactly two features."
            : "The fit line and loss surface are drawn for one feature.")));
    }
    container.replaceChildren(h("div", { class: "chart-grid" }, ...visual, ...panels));

    this.resize = new ResizeObserver(() => this.schedule());
    this.resize.observe(container);
    signal.addEventListener("abort", () => {
      this.resize.disconnect();
      this.stopPlay();
      if (this.fitUrl) URL.revokeObjectURL(this.fitUrl);
    });
    this.loadStatic();
  }

  /** Load what does not change per epoch: the data points and the loss surface. */
  async loadStatic() {
    const run = this.feed.run;
    try {
      if (this.boundary || this.oneFeature) {
        const cols = await datasetColumns(run.dataset_id, this.signal);
        const xs = run.features.map((f) => cols[f]);
        const ys = cols[run.target];
        if (xs.every(Boolean) && ys) {
          const n = ys.length;
          const step = Math.max(1, Math.ceil(n / MAX_DRAWN_POINTS));
          this.points = [];
          for (let i = 0; i < n; i += step) this.points.push([...xs.map((c) => Number(c[i])), ys[i]]);
        }
      }
      if (this.oneFeature) this.surface = await api(`${this.runPath}/loss-surface`, { signal: this.signal });
    } catch (err) {
      if (!isAbort(err)) this.onError(err);
    }
    this.schedule();
  }

  onHistory() {
    if (this.boundary && this.feed.history.length) this.refreshSnapshots();
    this.schedule();
  }

  onFinal() {
    if (this.boundary && this.feed.history.length) this.refreshSnapshots(true);
    this.schedule();
  }

  /** Re-read the snapshot list, at most every 400 ms while epochs stream in. */
  refreshSnapshots(force = false) {
    if (this.snapBusy) {
      this.snapAgain = true;
      return;
    }
    const now = Date.now();
    if (!force && this.snapAt && now - this.snapAt < 400) {
      if (!this.snapTimer) {
        this.snapTimer = setTimeout(() => {
          this.snapTimer = null;
          this.refreshSnapshots(true);
        }, 400 - (now - this.snapAt));
      }
      return;
    }
    this.snapBusy = true;
    this.snapAt = now;
    api(`${this.runPath}/snapshots`, { signal: this.signal })
      .then((meta) => {
        this.snap = { ...meta, epochs: meta.epochs || [] };
        this.schedule();
      })
      .catch((err) => isAbort(err) || this.onError(err))
      .finally(() => {
        this.snapBusy = false;
        if (this.snapAgain && !this.signal.aborted) {
          this.snapAgain = false;
          this.refreshSnapshots(true);
        }
      });
  }

  frames() {
    if (this.boundary) return this.snap.epochs;
    const epochs = this.feed.history.map((r) => r.epoch);
    if (!this.fitFilm) return epochs;
    // Fit snapshots: every `snapshots.every` epochs, and the last one once the run is final.
    const every = this.feed.run.hyperparameters?.snapshots?.every || 1;
    const last = this.feed.final ? epochs[epochs.length - 1] : null;
    return epochs.filter((e) => e % every === 0 || e === last);
  }

  selectedEpoch() {
    const frames = this.frames();
    if (!frames.length) return null;
    const max = frames.length - 1;
    this.slider.max = String(max);
    if (this.follow) this.slider.value = String(max);
    return frames[Math.min(Number(this.slider.value), max)];
  }

  togglePlay() {
    if (this.playing) return this.stopPlay();
    const frames = this.frames();
    if (frames.length < 2) return;
    if (Number(this.slider.value) >= frames.length - 1) this.slider.value = "0";
    this.follow = false;
    this.play.textContent = "Pause";
    this.play.setAttribute("aria-pressed", "true");
    this.playing = setInterval(() => {
      const max = this.frames().length - 1;
      const step = Math.max(1, Math.round(max / 120));
      const next = Math.min(max, Number(this.slider.value) + step);
      this.slider.value = String(next);
      if (next >= max) {
        this.follow = true;
        this.stopPlay();
      }
      this.schedule();
    }, 120);
  }

  stopPlay() {
    if (this.playing) clearInterval(this.playing);
    this.playing = null;
    this.play.textContent = "Play";
    this.play.setAttribute("aria-pressed", "false");
  }

  schedule() {
    if (this.pending || this.signal.aborted) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      if (!this.signal.aborted) this.draw();
    });
  }

  draw() {
    const history = this.feed.history;
    const epoch = this.selectedEpoch();
    const frames = this.frames();
    this.sliderLabel.textContent = epoch === null ? "Epoch –" : `Epoch ${epoch}`;
    this.slider.setAttribute("aria-valuetext", epoch === null ? "no epochs yet" : `epoch ${epoch}`);
    this.slider.disabled = frames.length < 2;
    this.play.disabled = frames.length < 2;

    const series = [{ name: "loss", color: PALETTE[0], points: history.map((r) => [r.epoch, r.loss]) }];
    if (history.some((r) => r.val_loss != null)) {
      series.push({ name: "val_loss", color: PALETTE[1], dashed: true, points: history.map((r) => [r.epoch, r.val_loss]) });
    }
    const common = { xLabel: "epoch", integerX: true, markerX: epoch };
    this.loss.draw(series, common);
    this.lossCanvas.dataset.points = String(history.filter((r) => Number.isFinite(r.loss)).length);
    const last = history[history.length - 1];
    this.lossCanvas.setAttribute("aria-label", last
      ? `Loss over ${history.length} epochs; latest ${fmt(last.loss)}` : "Loss: no epochs yet");

    if (this.mlp) {
      this.acc.draw(this.scoreKeys.map((k, i) => ({
        name: k, color: PALETTE[i], dashed: i > 0, points: history.map((r) => [r.epoch, r[k]]) })),
      { ...common, legend: true });
      this.norms.draw(normSeries(history, "weight_norms"), { ...common, legend: true });
      this.grads.draw(normSeries(history, "grad_norms"), { ...common, legend: true, empty: "No gradient norms yet" });
    } else {
      this.drawParams(history, epoch);
    }
    if (this.boundary) this.drawBoundary(epoch);
    if (this.fitFilm) this.drawFit(epoch);
    if (this.oneFeature) this.drawRegression(history, epoch);
  }

  /** Show the server's fit.png at `epoch`: one request at a time, the latest wish wins. */
  drawFit(epoch) {
    if (epoch === null || this.fitBusy || epoch === this.fitShown || epoch === this.fitFailed) return;
    this.fitBusy = true;
    apiBlob(`${this.runPath}/plots/fit.png`, { epoch, width: 600, height: 360 }, this.signal)
      .then((blob) => {
        if (this.fitUrl) URL.revokeObjectURL(this.fitUrl);
        this.fitUrl = URL.createObjectURL(blob);
        this.fitImage.src = this.fitUrl;
        this.fitShown = epoch;
        this.fitImage.dataset.epoch = String(epoch);
        this.fitImage.alt = `Fitted curve ${epoch === 0 ? "before training (epoch 0)" : `after epoch ${epoch}`}, with the data`;
      })
      .catch((err) => {
        this.fitFailed = epoch;
        if (!isAbort(err)) this.onError(err);
      })
      .finally(() => {
        this.fitBusy = false;
        if (!this.signal.aborted && this.selectedEpoch() !== this.fitShown) this.schedule();
      });
  }

  drawParams(history, epoch) {
    const series = paramSeries(history);
    const names = [...series.keys()].slice(0, 6);
    if (this.paramsBox.dataset.names !== names.join(",")) {
      this.paramsBox.dataset.names = names.join(",");
      this.paramBoxes = names.map((n) => new ChartBox({
        id: `param-chart-${n}`, label: `Parameter ${n} per epoch`, file: this.paramFile(`param-${n}`) }));
      this.paramsBox.replaceChildren(...this.paramBoxes.map((b) => b.el));
    }
    names.forEach((n, i) => {
      this.paramBoxes[i].draw([{ name: n, color: PALETTE[i % PALETTE.length], points: series.get(n) }],
        { xLabel: "epoch", integerX: true, title: n, markerX: epoch });
    });
    if (!names.length) this.paramsBox.replaceChildren(h("p", { class: "muted" }, "No parameters yet."));
  }

  drawBoundary(epoch) {
    const meta = this.snap;
    const run = this.feed.run;
    const classes = meta.classes || run.analysis?.classes || [];
    const extent = meta.extent || run.analysis?.extent;
    const index = new Map(classes.map((c, i) => [String(c), i]));
    const classOf = (v) => index.get(String(v)) ?? index.get(String(Number(v))) ?? 0;
    const points = (this.points || []).map(([x1, x2, y]) => [x1, x2, classOf(y)]);
    let grid = epoch === null ? null : this.grids.get(epoch);
    if (grid) this.lastGrid = grid;
    else if (epoch !== null) {
      this.fetchGrid(epoch);
      grid = this.lastGrid; // keep the previous picture until the new one arrives
    }
    if (!extent) return;
    boundaryChart(this.boundaryCanvas, grid ? grid.grid : null, extent, classes, points, {
      xLabel: run.features[0], yLabel: run.features[1],
      title: grid ? `epoch ${grid.epoch}` : "",
    });
    this.boundaryCanvas.dataset.epoch = grid ? String(grid.epoch) : "";
    const when = grid && grid.epoch === 0 ? "initial (epoch 0)" : `after epoch ${grid ? grid.epoch : ""}`;
    this.boundaryCanvas.setAttribute("aria-label", grid
      ? `Decision regions, ${when}, with the data` : "Decision regions: no snapshot yet");
  }

  fetchGrid(epoch) {
    this.fetching = this.fetching || new Set();
    if (this.fetching.has(epoch)) return;
    this.fetching.add(epoch);
    api(`${this.runPath}/snapshots/${epoch}`, { signal: this.signal })
      .then((body) => {
        this.grids.set(epoch, { epoch, grid: body.grid });
        this.schedule();
      })
      .catch((err) => isAbort(err) || this.onError(err))
      .finally(() => this.fetching.delete(epoch));
  }

  drawRegression(history, epoch) {
    const run = this.feed.run;
    const upTo = history.filter((r) => epoch === null || r.epoch <= epoch);
    const row = upTo[upTo.length - 1];
    const p = row?.params || {};
    const line = Number.isFinite(p.a) && Number.isFinite(p.b) ? { a: p.a, b: p.b, label: `fit, epoch ${row.epoch}` } : null;
    fitChart(this.fitCanvas, (this.points || []).map(([x, y]) => [x, Number(y)]), line, {
      xLabel: run.features[0], yLabel: run.target, empty: this.points ? "No data" : "Loading data…",
    });
    this.fitCanvas.dataset.epoch = row ? String(row.epoch) : "";
    this.fitCanvas.dataset.points = String((this.points || []).length);
    if (this.surface) {
      const path = upTo.map((r) => [r.params?.a, r.params?.b]);
      contourChart(this.contourCanvas, this.surface, path, { xLabel: "a", yLabel: "b" });
    }
  }
}
