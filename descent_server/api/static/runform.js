// The "new run" form: dataset (builtin or CSV upload), kind, features/target, hyperparameters,
// and an optional learning-rate sweep. Submits POST v1/runs or POST v1/sweeps.

import { api, isMlp, KINDS, randomKey } from "./api.js";
import { h, isAbort, showError } from "./dom.js";
import { describe, rangeTest } from "./lrrange.js";

const DEFAULTS = {
  linear_regression: { learning_rate: 0.01, epochs: 300, batch_size: "" },
  mlp_classifier: { learning_rate: 0.01, epochs: 20, batch_size: 32 },
  mlp_regressor: { learning_rate: 0.01, epochs: 20, batch_size: 32 },
};
const KIND_ORDER = ["mlp_classifier", "mlp_regressor", "linear_regression"];

function field(label, input, hint) {
  return h("div", { class: "field" },
    h("label", { for: input.id }, label), input,
    hint ? h("small", { class: "muted", id: `${input.id}-hint` }, hint) : null);
}

function num(id, value, attrs = {}) {
  return h("input", { id, name: id, type: "number", step: "any", value: String(value), ...attrs });
}

function select(id, options, value) {
  return h("select", { id, name: id },
    options.map(([v, text]) => h("option", { value: v, selected: v === value }, text)));
}

export function buildForm(box, signal, deps) {
  const els = {
    dataset: h("select", { id: "dataset", name: "dataset", required: true }),
    file: h("input", { id: "csv-file", type: "file", accept: ".csv,text/csv" }),
    upload: h("button", { type: "button", id: "upload-button" }, "Upload CSV"),
    kind: select("kind", KIND_ORDER.map((k) => [k, KINDS[k][0].toUpperCase() + KINDS[k].slice(1)]), "mlp_classifier"),
    features: h("div", { id: "features", class: "checks", role: "group", "aria-labelledby": "features-label" }),
    target: h("select", { id: "target", name: "target" }),
    name: h("input", { id: "run-name", name: "run-name", type: "text", maxlength: "200" }),
    lr: num("learning-rate", 0.01, { min: "0" }),
    epochs: num("epochs", 20, { min: "1", step: "1" }),
    batch: num("batch-size", 32, { min: "1", step: "1", placeholder: "full batch" }),
    initA: num("init-a", 0),
    initB: num("init-b", 0),
    gradient: select("gradient", [["course", "course (no factor 2)"], ["exact", "exact MSE derivative"]], "course"),
    normalize: select("normalize", [["none", "none"], ["minmax", "min-max"], ["standard", "standard"]], "none"),
    hidden: h("input", { id: "hidden-layers", name: "hidden-layers", type: "text", value: "40, 40", inputmode: "numeric", "aria-describedby": "hidden-layers-hint" }),
    activation: select("activation", [["relu", "relu"], ["tanh", "tanh"], ["sigmoid", "sigmoid"]], "relu"),
    optimizer: select("optimizer", [["sgd", "SGD"], ["adam", "Adam"], ["rmsprop", "RMSprop"]], "sgd"),
    sweep: h("input", { id: "sweep-lrs", name: "sweep-lrs", type: "text", placeholder: "0.001, 1e-12, 2e-10", "aria-describedby": "sweep-lrs-hint" }),
    submit: h("button", { type: "submit", id: "submit-run", class: "primary" }, "Start run"),
    submitSweep: h("button", { type: "button", id: "submit-sweep" }, "Start sweep"),
    findLr: h("button", { type: "button", id: "find-lr", title: "run a learning-rate range test of this run and use its suggestion" }, "Find learning rate"),
    findLrState: h("span", { id: "find-lr-state", class: "muted small", role: "status" }),
    error: h("div", { id: "form-error", class: "banner error", role: "alert", hidden: true }),
    uploadState: h("span", { class: "muted small", role: "status" }),
  };
  const regression = h("fieldset", { id: "regression-options" }, h("legend", {}, "Linear regression"),
    h("div", { class: "grid2" },
      field("Initial a", els.initA), field("Initial b", els.initB),
      field("Gradient", els.gradient), field("Normalize", els.normalize)));
  const mlp = h("fieldset", { id: "mlp-options" }, h("legend", {}, "MLP"),
    field("Hidden layers", els.hidden, "units per layer, comma separated"),
    h("div", { class: "grid2" }, field("Optimizer", els.optimizer), field("Activation", els.activation)));
  const form = h("form", { id: "run-form", novalidate: true },
    h("fieldset", {}, h("legend", {}, "Data"),
      field("Dataset", els.dataset),
      h("div", { class: "field upload" },
        h("label", { for: "csv-file" }, "…or upload a CSV (header row)"),
        h("div", { class: "row" }, els.file, els.upload), els.uploadState),
      h("div", { class: "field" }, h("span", { id: "features-label", class: "label" }, "Features"), els.features),
      field("Target", els.target)),
    h("fieldset", {}, h("legend", {}, "Model"),
      field("Kind", els.kind),
      field("Name (optional)", els.name),
      h("div", { class: "grid3" },
        field("Learning rate", els.lr), field("Epochs", els.epochs),
        field("Batch size", els.batch)),
      h("div", { class: "row" }, els.findLr, els.findLrState)),
    regression, mlp,
    els.error,
    h("div", { class: "actions" }, els.submit),
    h("fieldset", {}, h("legend", {}, "Sweep"),
      field("Learning rates", els.sweep, "one run per value, comma separated"),
      h("div", { class: "actions" }, els.submitSweep)));
  box.append(h("h2", { id: "new-run-title" }, "New run"), form);

  let datasets = [];
  const byId = (id) => datasets.find((d) => d.id === id);

  const setKindDefaults = () => {
    const d = DEFAULTS[els.kind.value];
    els.lr.value = String(d.learning_rate);
    els.epochs.value = String(d.epochs);
    els.batch.value = String(d.batch_size);
    regression.hidden = els.kind.value !== "linear_regression";
    mlp.hidden = !isMlp(els.kind.value);
  };

  const showColumns = () => {
    const ds = byId(els.dataset.value);
    const cols = ds ? ds.columns.map((c) => c.name) : [];
    const target = ds?.target && cols.includes(ds.target) ? ds.target : cols[cols.length - 1];
    const features = ds?.features?.length ? ds.features : cols.filter((c) => c !== target);
    els.target.replaceChildren(...cols.map((c) => h("option", { value: c, selected: c === target }, c)));
    els.features.replaceChildren(...cols.map((c) =>
      h("label", { class: "check" },
        h("input", { type: "checkbox", name: "feature", value: c, checked: features.includes(c) }), ` ${c}`)));
    const targetCol = ds?.columns.find((c) => c.name === target);
    const kind = ds?.kind || (/blob/.test(ds?.name || "") || targetCol?.dtype === "string"
      ? "mlp_classifier" : "linear_regression");
    if (ds && kind !== els.kind.value) {
      els.kind.value = kind;
      setKindDefaults();
    }
  };

  const fillDatasets = (selectId) => {
    const group = (label, items) => items.length
      ? h("optgroup", { label }, items.map((d) => h("option", { value: d.id }, d.builtin ? d.name : `${d.name} (${d.n_rows ?? "?"} rows)`)))
      : null;
    els.dataset.replaceChildren(...[group("Built-in", datasets.filter((d) => d.builtin)),
      group("Uploaded", datasets.filter((d) => !d.builtin))].filter(Boolean));
    if (selectId) els.dataset.value = selectId;
    showColumns();
  };

  (async () => {
    try {
      const [builtins, uploads] = await Promise.all([
        deps.builtinDatasets(signal), deps.uploadedDatasets(signal)]);
      datasets = [...builtins, ...uploads];
      fillDatasets(builtins.find((b) => /blob/.test(b.name))?.id);
    } catch (err) {
      if (!isAbort(err)) showError(els.error, err);
    }
  })();

  els.dataset.addEventListener("change", showColumns);
  els.kind.addEventListener("change", setKindDefaults);
  setKindDefaults();

  els.upload.addEventListener("click", async () => {
    const file = els.file.files[0];
    if (!file) {
      showError(els.error, "Choose a CSV file first.");
      els.file.focus();
      return;
    }
    const body = new FormData();
    body.append("file", file);
    body.append("name", file.name.replace(/\.csv$/i, ""));
    els.upload.disabled = true;
    els.uploadState.textContent = "uploading…";
    try {
      const ds = deps.normalizeDataset(await api("v1/datasets", { method: "POST", body, signal }));
      datasets.push(ds);
      fillDatasets(ds.id);
      els.uploadState.textContent = `uploaded ${ds.name}: ${ds.n_rows} rows`;
      showError(els.error, null);
    } catch (err) {
      els.uploadState.textContent = "";
      if (!isAbort(err)) showError(els.error, err);
    } finally {
      els.upload.disabled = false;
    }
  });

  const request = () => {
    const kind = els.kind.value;
    const features = [...els.features.querySelectorAll("input:checked")].map((i) => i.value);
    const lr = Number(els.lr.value);
    const epochs = Number(els.epochs.value);
    const batch = els.batch.value.trim() === "" ? null : Number(els.batch.value);
    let hp;
    if (kind === "linear_regression") {
      hp = { learning_rate: lr, epochs, batch_size: batch, gradient: els.gradient.value,
        normalize: els.normalize.value };
      if (features.length === 1) hp.init = { a: Number(els.initA.value), b: Number(els.initB.value) };
    } else {
      const layers = els.hidden.value.split(/[\s,]+/).filter(Boolean).map(Number);
      hp = { hidden_layers: layers, activation: els.activation.value, epochs,
        optimizer: { name: els.optimizer.value, learning_rate: lr } };
      if (batch !== null) hp.batch_size = batch;
    }
    const body = { kind, dataset_id: els.dataset.value, features, target: els.target.value,
      hyperparameters: hp };
    if (els.name.value.trim()) body.name = els.name.value.trim();
    return body;
  };

  const submit = async (path, body, button) => {
    button.disabled = true;
    showError(els.error, null);
    try {
      const created = await api(path, { method: "POST", body, signal,
        headers: { "Idempotency-Key": randomKey() } });
      location.hash = `#/${path === "v1/sweeps" ? "sweeps" : "runs"}/${encodeURIComponent(created.id)}`;
    } catch (err) {
      if (!isAbort(err)) {
        showError(els.error, err);
        els.error.focus?.();
      }
    } finally {
      button.disabled = false;
    }
  };

  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    submit("v1/runs", request(), els.submit);
  });
  els.findLr.addEventListener("click", async () => {
    els.findLr.disabled = true;
    showError(els.error, null);
    try {
      const test = await rangeTest(request(), signal, (text) => { els.findLrState.textContent = text; });
      els.findLrState.textContent = describe(test);
      if (test.suggested_learning_rate != null) {
        els.lr.value = String(Number(test.suggested_learning_rate.toPrecision(3)));
      }
    } catch (err) {
      els.findLrState.textContent = "";
      if (!isAbort(err)) showError(els.error, err);
    } finally {
      els.findLr.disabled = false;
    }
  });
  els.submitSweep.addEventListener("click", () => {
    const rates = els.sweep.value.split(/[\s,;]+/).filter(Boolean).map(Number);
    if (!rates.length || rates.some((r) => !Number.isFinite(r))) {
      showError(els.error, "Enter one or more learning rates for the sweep, e.g. 0.001, 1e-12, 2e-10.");
      els.sweep.focus();
      return;
    }
    // An MLP's learning rate is nested in its optimizer; the grid reaches it by a dotted name.
    const key = isMlp(els.kind.value) ? "optimizer.learning_rate" : "learning_rate";
    submit("v1/sweeps", { run: request(), grid: { [key]: rates } }, els.submitSweep);
  });
}
