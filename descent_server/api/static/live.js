// Keeping a run's state current: history paging, the event stream, and a polling fallback.

import { api, FINAL_STATUSES, streamEvents } from "./api.js";
import { mergeDiagnoses } from "./diagnoses.js";
import { isAbort, sleep } from "./dom.js";

const MAX_POINTS = 20000; // history rows kept in memory; older ones are thinned
const PAGED_UP_TO = 20000; // longer runs load a downsampled history first

/** A run plus its history, kept current from the server. Calls onChange(what) on updates. */
export class RunFeed {
  constructor(runId, signal, onChange) {
    this.runId = runId;
    this.signal = signal;
    this.onChange = onChange;
    this.run = null;
    this.etag = null;
    this.history = []; // rows sorted by epoch
    this.diagnoses = []; // what the server found, from the run and `diagnosis` events
    this.mode = "connecting"; // connecting | live | polling | done
  }

  get lastEpoch() {
    return this.history.length ? this.history[this.history.length - 1].epoch : -1;
  }

  get final() {
    return Boolean(this.run && FINAL_STATUSES.has(this.run.status));
  }

  /** Load the run and its history, then follow it until it finishes (or the view closes). */
  async start() {
    const run = await api(`v1/runs/${encodeURIComponent(this.runId)}`, { signal: this.signal, etag: "" });
    this.setRun(run);
    await this.loadHistory();
    if (!this.final) await this.follow();
    this.mode = "done";
    this.onChange("mode");
  }

  setRun(run) {
    if (!run || run.notModified) return;
    if (run.etag) this.etag = run.etag;
    const wasFinal = this.final;
    this.run = run;
    this.onChange(this.final && !wasFinal ? "final" : "run");
    this.addDiagnoses(run.diagnostics);
  }

  addDiagnoses(found) {
    if (mergeDiagnoses(this.diagnoses, found)) this.onChange("diagnosis");
  }

  addEpochs(rows) {
    let added = false;
    for (const row of rows) {
      if (!row || typeof row.epoch !== "number") continue;
      const last = this.lastEpoch;
      if (row.epoch > last) {
        this.history.push(row);
        added = true;
      } else {
        // Out of order or a repeat (after a reconnect): replace in place.
        const i = this.history.findIndex((r) => r.epoch >= row.epoch);
        if (i >= 0 && this.history[i].epoch === row.epoch) this.history[i] = row;
        else if (i >= 0) this.history.splice(i, 0, row);
        added = true;
      }
    }
    if (this.history.length > MAX_POINTS) {
      // Keep every other row but always the first and the newest.
      const last = this.history[this.history.length - 1];
      this.history = this.history.filter((_, i) => i % 2 === 0);
      if (this.history[this.history.length - 1] !== last) this.history.push(last);
    }
    if (added) this.onChange("history");
  }

  /** Load the history: all of it, or a downsample of a long run; `tail`: only what is new. */
  async loadHistory(tail = false) {
    const path = `v1/runs/${encodeURIComponent(this.runId)}/history`;
    const progress = this.run.progress?.epoch ?? -1;
    if (!tail && progress > PAGED_UP_TO) {
      const page = await api(path, { params: { max_points: 5000 }, signal: this.signal });
      this.addEpochs(page.epochs || []);
      return;
    }
    let since = this.lastEpoch >= 0 ? this.lastEpoch : undefined;
    for (let pages = 0; pages < 50; pages++) {
      const page = await api(path, { params: { since_epoch: since, limit: 10000 }, signal: this.signal });
      this.addEpochs(page.epochs || []);
      if (page.next_since_epoch === null || page.next_since_epoch === undefined) break;
      if (since !== undefined && page.next_since_epoch <= since) break;
      since = page.next_since_epoch;
    }
  }

  async follow() {
    let misses = 0;
    while (!this.final) {
      if (misses < 3) {
        let got = 0;
        try {
          this.mode = "live";
          this.onChange("mode");
          await streamEvents(this.runId, this.lastEpoch, (ev) => {
            got++;
            this.onEvent(ev);
          }, this.signal);
        } catch (err) {
          if (isAbort(err)) throw err;
          if (err.status === 401 || err.status === 404) throw err;
        }
        misses = got ? 0 : misses + 1;
        if (this.final) break;
        await sleep(got ? 200 : 1000, this.signal);
      } else {
        // The stream keeps failing (a proxy that buffers it?): poll instead.
        this.mode = "polling";
        this.onChange("mode");
        await this.pollOnce();
        if (!this.final) await sleep(1000, this.signal);
      }
    }
    // Catch anything written between the last event and the final status.
    await this.loadHistory(true);
  }

  onEvent(ev) {
    if (ev.event === "epoch") this.addEpochs([ev.data]);
    else if (ev.event === "status" && ev.data && typeof ev.data === "object") this.setRun(ev.data);
    else if (ev.event === "diagnosis" && ev.data && typeof ev.data === "object") {
      this.addDiagnoses([ev.data]);
    }
  }

  async pollOnce() {
    const res = await api(`v1/runs/${encodeURIComponent(this.runId)}`, {
      signal: this.signal, etag: this.etag || "" });
    if (res.notModified) return;
    this.setRun(res);
    await this.loadHistory(true);
  }
}
