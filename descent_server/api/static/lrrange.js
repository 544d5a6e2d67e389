// The submit form's "Find learning rate" button: a learning-rate range test of the form's
// run (POST v1/lr-range-tests), polled until final; its suggestion fills the learning rate.

import { api } from "./api.js";

const POLL_MS = 500;

/** Run a range test of `run`; report progress through `onStatus`; return the final test. */
export async function rangeTest(run, signal, onStatus) {
  let test = await api("v1/lr-range-tests", { method: "POST", body: { run }, signal });
  while (test.status === "queued" || test.status === "running") {
    onStatus(`range test ${test.status}…`);
    await new Promise((resolve, reject) => {
      const timer = setTimeout(resolve, POLL_MS);
      signal?.addEventListener("abort", () => { clearTimeout(timer); reject(signal.reason); }, { once: true });
    });
    test = await api(`v1/lr-range-tests/${encodeURIComponent(test.id)}`, { signal });
  }
  return test;
}

/** Say in words what a finished range test found. */
export function describe(test) {
  if (test.suggested_learning_rate == null) {
    return `range test ${test.status}: ${test.error?.message || "no suggestion"}`;
  }
  const rate = Number(test.suggested_learning_rate.toPrecision(3));
  return `suggested ${rate} (${test.rule}, ${test.points.length} steps)`;
}
