// Datasets as the page needs them: builtins and uploads in one shape, and their rows.

import { api, apiText, parseCsv } from "./api.js";

let builtinCache = null;

/** Normalise a Dataset or a builtin entry to {id, name, columns: [{name, dtype}], builtin, ...}. */
export function normalizeDataset(item, builtin = false) {
  if (typeof item === "string") item = { name: item };
  const name = item.name || item.id;
  const id = item.id || (builtin ? `builtin:${name}` : name);
  let columns = [];
  let inline = null;
  if (Array.isArray(item.columns)) {
    columns = item.columns.map((c) => (typeof c === "string" ? { name: c } : c));
  } else if (item.columns && typeof item.columns === "object") {
    // {"col": [values...]}: the data itself came with the listing.
    inline = item.columns;
    columns = Object.keys(item.columns).map((c) => ({ name: c }));
  } else if (item.features || item.target) {
    columns = [...(item.features || []), item.target].filter(Boolean).map((c) => ({ name: c }));
  }
  if (!inline && item.data && typeof item.data === "object" && !Array.isArray(item.data)) {
    inline = item.data;
  }
  return {
    ...item,
    id: id.startsWith("builtin:") || !builtin ? id : `builtin:${id}`,
    name,
    columns,
    builtin: builtin || String(id).startsWith("builtin:"),
    inline,
  };
}

/** Return the builtin datasets (GET v1/builtin-datasets), cached for the page's life. */
export async function builtinDatasets(signal) {
  if (!builtinCache) {
    const body = await api("v1/builtin-datasets", { signal });
    const items = Array.isArray(body) ? body : body.items || body.datasets || Object.values(body);
    builtinCache = items.map((it) => normalizeDataset(it, true));
  }
  return builtinCache;
}

/** Return the uploaded datasets (first page of GET v1/datasets). */
export async function uploadedDatasets(signal) {
  const body = await api("v1/datasets", { params: { limit: 100 }, signal });
  return (body.items || []).map((it) => normalizeDataset(it, false));
}

const rowsCache = new Map();

/** Return {colName: values[]} for a dataset id (builtin or uploaded); numbers where numeric. */
export async function datasetColumns(datasetId, signal) {
  if (rowsCache.has(datasetId)) return rowsCache.get(datasetId);
  let columns = null;
  if (String(datasetId).startsWith("builtin:")) {
    const builtins = await builtinDatasets(signal);
    const found = builtins.find((b) => b.id === datasetId);
    if (found && found.inline) columns = found.inline;
  }
  if (!columns) {
    const text = await apiText(`v1/datasets/${encodeURIComponent(datasetId)}/data.csv`, null, signal);
    const { header, rows } = parseCsv(text);
    columns = {};
    header.forEach((name, k) => {
      const raw = rows.map((r) => r[k]);
      const nums = raw.map(Number);
      columns[name] = nums.every((v, i) => raw[i] !== "" && Number.isFinite(v)) ? nums : raw;
    });
  }
  rowsCache.set(datasetId, columns);
  return columns;
}
