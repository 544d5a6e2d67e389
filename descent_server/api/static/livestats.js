// Elapsed time, epochs per second and the ETA of a run, from the epochs the page sees arrive.

import { h } from "./dom.js";

const WINDOW_MS = 10_000; // the rate is measured over the last ten seconds of arrivals
const TICK_MS = 500;

/** Format seconds as "250 ms", "12.3 s", "4 min 05 s" or "2 h 03 min". */
export function duration(s) {
  if (!Number.isFinite(s) || s < 0) return "–";
  if (s < 1) return `${Math.round(s * 1000)} ms`;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(Math.floor(s % 60)).padStart(2, "0")} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} min`;
}

function seconds(from, to) {
  const a = Date.parse(from);
  const b = to ? Date.parse(to) : Date.now();
  // Clocks of the server and the browser may differ a little: never show a negative time.
  return Number.isFinite(a) && Number.isFinite(b) ? Math.max(0, (b - a) / 1000) : NaN;
}

/** The stats line of a run page; call update() on every change, it ticks by itself meanwhile. */
export class LiveStats {
  constructor(signal) {
    this.elapsed = h("span", { id: "run-elapsed" });
    this.rate = h("span", { id: "run-rate" });
    this.eta = h("span", { id: "run-eta" });
    this.el = h("div", { id: "run-stats", class: "run-stats small muted", hidden: true },
      this.elapsed, this.rate, this.eta);
    this.samples = []; // [performance.now(), epoch] as epochs arrive
    this.state = null;
    this.timer = setInterval(() => this.render(), TICK_MS);
    signal.addEventListener("abort", () => clearInterval(this.timer));
  }

  /** Record the run and its latest epoch. */
  update(run, epoch, final) {
    this.state = { run, epoch, final };
    const last = this.samples[this.samples.length - 1];
    if (!final && epoch >= 0 && (!last || epoch > last[1])) this.samples.push([performance.now(), epoch]);
    if (final) clearInterval(this.timer);
    this.render();
  }

  /** Epochs per second: over the recent window, else the average since the run started. */
  currentRate(now, elapsed, epoch) {
    this.samples = this.samples.filter(([t], i) => now - t <= WINDOW_MS || i === this.samples.length - 1);
    const [t0, e0] = this.samples[0] || [now, epoch];
    // Include the time since the last arrival, so a stalled run's rate falls instead of freezing.
    if (now - t0 >= 1000 && epoch > e0) return (epoch - e0) / ((now - t0) / 1000);
    return elapsed > 0 && epoch > 0 ? epoch / elapsed : NaN;
  }

  render() {
    if (!this.state) return;
    const { run, epoch, final } = this.state;
    const epochs = run.progress?.epochs ?? run.hyperparameters?.epochs;
    this.el.hidden = !run.started_at;
    if (!run.started_at) return;
    const elapsed = seconds(run.started_at, final ? run.finished_at : null);
    const rate = final ? (elapsed > 0 && epoch > 0 ? epoch / elapsed : NaN)
      : this.currentRate(performance.now(), elapsed, epoch);
    const left = Number.isFinite(epochs) && Number.isFinite(rate) && rate > 0 ? (epochs - epoch) / rate : NaN;
    this.elapsed.textContent = `${final ? "took" : "elapsed"} ${duration(elapsed)}`;
    this.elapsed.dataset.seconds = String(elapsed);
    this.rate.textContent = Number.isFinite(rate) ? `${rate >= 10 ? rate.toFixed(0) : rate.toPrecision(2)} epochs/s` : "– epochs/s";
    this.rate.dataset.rate = Number.isFinite(rate) ? String(rate) : "";
    this.eta.hidden = final;
    this.eta.textContent = `ETA ${duration(left)}`;
    this.eta.dataset.seconds = Number.isFinite(left) ? String(left) : "";
  }
}
