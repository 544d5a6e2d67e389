// Entry point: the API-key form, the hash router (#/, #/runs, #/runs/ID, #/sweeps, #/sweeps/ID,
// #/compare/ID,ID) and view lifecycles.

import { getKey, onAuthNeeded, setKey } from "./api.js";
import { renderCompare } from "./compare.js";
import { renderHome } from "./home.js";
import { renderRun } from "./run.js";
import { renderRuns } from "./runs.js";
import { renderSweep } from "./sweep.js";
import { renderSweeps } from "./sweeps.js";

const main = document.getElementById("main");
const banner = document.getElementById("auth-banner");
let current = null; // AbortController of the view on screen

function setupKeyForm() {
  const form = document.getElementById("key-form");
  const input = document.getElementById("api-key");
  const state = document.getElementById("key-state");
  const show = () => {
    state.textContent = getKey() ? "key saved" : "";
  };
  input.value = getKey();
  show();
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    setKey(input.value.trim());
    banner.hidden = true;
    show();
    route();
  });
  document.getElementById("forget-key").addEventListener("click", () => {
    setKey("");
    input.value = "";
    show();
    route();
  });
  onAuthNeeded(() => {
    banner.hidden = false;
    state.textContent = getKey() ? "key rejected" : "";
    if (document.activeElement === document.body) input.focus();
  });
}

function route() {
  if (current) current.abort();
  current = new AbortController();
  const signal = current.signal;
  const hash = location.hash.replace(/^#\/?/, "");
  const [section, id] = hash.split("/");
  main.replaceChildren();
  document.title = "descent";
  for (const link of document.querySelectorAll(".top nav a[data-section]")) {
    if (link.dataset.section === (section || "home") && !id) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (section === "runs" && id) renderRun(main, decodeURIComponent(id), signal);
  else if (section === "runs") renderRuns(main, signal);
  else if (section === "sweeps" && id) renderSweep(main, decodeURIComponent(id), signal);
  else if (section === "sweeps") renderSweeps(main, signal);
  else if (section === "compare" && id) renderCompare(main, id, signal);
  else renderHome(main, signal);
}

setupKeyForm();
window.addEventListener("hashchange", () => {
  route();
  main.focus({ preventScroll: false });
});
route();
