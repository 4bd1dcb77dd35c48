// The vaekit explorer page: plain JavaScript over the JSON API of `vaekit serve`, canvas drawing.
"use strict";

const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
  "#7f7f7f", "#bcbd22", "#17becf"];
const S = { card: null, map: null, z: null, busy: false, pending: false, examples: new Map() };
const $ = (id) => document.getElementById(id);

async function api(path, body) {
  const init = body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  };
  const response = await fetch(path, init);
  const data = await response.json();
  if (!response.ok) {
    const detail = typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail);
    throw new Error(`${path}: ${detail}`);
  }
  $("error").hidden = true;
  return data;
}

function showError(e) {
  $("error").textContent = String(e.message || e);
  $("error").hidden = false;
}

function label() {
  return S.card.classes > 0 ? Number($("label").value) : undefined;
}

// -- drawing examples: images as pixels, vectors as bars ----------------------------------------
function toImage(x) {
  const shape = S.card.shape, [lo, hi] = S.card.display_range;
  const [h, w] = shape.slice(-2), colour = shape.length === 3 && shape[0] === 3;
  const img = new ImageData(w, h);
  for (let i = 0; i < h * w; i++) {
    for (let c = 0; c < 3; c++) {
      const v = x[colour ? c * h * w + i : i];
      img.data[4 * i + c] = Math.round(255 * Math.min(1, Math.max(0, (v - lo) / (hi - lo))));
    }
    img.data[4 * i + 3] = 255;
  }
  const off = document.createElement("canvas");
  off.width = w;
  off.height = h;
  off.getContext("2d").putImageData(img, 0, 0);
  return off;
}

function drawCell(ctx, x, left, top, size) {
  if (S.card.image) {
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(toImage(x), left, top, size, size);
    return;
  }
  const [lo, hi] = S.card.display_range, bar = size / x.length;
  ctx.fillStyle = "#eee";
  ctx.fillRect(left, top, size, size);
  ctx.fillStyle = "#1f77b4";
  x.forEach((v, i) => {
    const f = Math.min(1, Math.max(0, (v - lo) / (hi - lo)));
    ctx.fillRect(left + i * bar, top + size * (1 - f), Math.max(1, bar - 1), size * f);
  });
}

function drawExamples(canvas, xs, cols) {
  cols = cols || xs.length;
  const rows = Math.ceil(xs.length / cols);
  const size = Math.floor(Math.min(canvas.width / cols, canvas.height / rows));
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  xs.forEach((x, i) => drawCell(ctx, x, (i % cols) * size, Math.floor(i / cols) * size, size));
  canvas.dataset.count = Number(canvas.dataset.count) + 1;
}

// -- the latent map ---------------------------------------------------------------------------
function mapFrame() {
  const pts = S.map.points, pad = 24, canvas = $("map");
  const xs = pts.map((p) => p[0]), ys = pts.map((p) => p[1]);
  const x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
  const mx = 0.05 * (x1 - x0 || 1), my = 0.05 * (y1 - y0 || 1);
  const b = { x0: x0 - mx, x1: x1 + mx, y0: y0 - my, y1: y1 + my };
  const sx = (canvas.width - 2 * pad) / (b.x1 - b.x0), sy = (canvas.height - 2 * pad) / (b.y1 - b.y0);
  return {
    toPixel: (p) => [pad + (p[0] - b.x0) * sx, canvas.height - pad - (p[1] - b.y0) * sy],
    toPoint: (px, py) => [b.x0 + (px - pad) / sx, b.y0 + (canvas.height - pad - py) / sy],
  };
}

function drawMap(marker) {
  const canvas = $("map"), ctx = canvas.getContext("2d"), frame = mapFrame();
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  S.map.points.forEach((p, i) => {
    const [px, py] = frame.toPixel(p), y = S.map.labels ? S.map.labels[i] : 0;
    ctx.fillStyle = PALETTE[((y % 10) + 10) % 10];
    ctx.globalAlpha = 0.7;
    ctx.fillRect(px - 2, py - 2, 4, 4);
  });
  ctx.globalAlpha = 1;
  ctx.fillStyle = "#444";
  ctx.font = "12px sans-serif";
  ctx.fillText(S.map.axes[0], canvas.width - 40, canvas.height - 6);
  ctx.fillText(S.map.axes[1], 4, 14);
  if (marker) {
    const [px, py] = frame.toPixel(marker);
    ctx.strokeStyle = "#000";
    ctx.lineWidth = 2;
    ctx.strokeRect(px - 6, py - 6, 12, 12);
  }
  canvas.dataset.count = Number(canvas.dataset.count) + 1;
}

function nearest(px, py) {
  const frame = mapFrame();
  let best = -1, bestD = 36;  // within 6 pixels
  S.map.points.forEach((p, i) => {
    const [qx, qy] = frame.toPixel(p), d = (qx - px) ** 2 + (qy - py) ** 2;
    if (d < bestD) { best = i; bestD = d; }
  });
  return best;
}

async function hover(event) {
  const i = nearest(event.offsetX, event.offsetY);
  if (i < 0) return;
  if (!S.examples.has(i)) S.examples.set(i, api(`/api/examples/${i}`));
  const ex = await S.examples.get(i);
  drawExamples($("hover"), [ex.x]);
  const names = S.card.class_names;
  const y = ex.label === null ? "no label" : `label ${names ? names[ex.label] : ex.label}`;
  const score = ex.score === null ? "" : `, ${ex.score_method} score ${ex.score.toPrecision(4)}`;
  $("hover-text").textContent = `test example ${i}, ${y}${score}`;
}

function clickMap(event) {
  const p = mapFrame().toPoint(event.offsetX, event.offsetY);
  const { mean, basis } = S.map;
  S.z = mean.map((m, u) => m + p[0] * basis[0][u] + p[1] * basis[1][u]);
  drawMap(p);
  setSliders();
  decode();
}

// -- the decoded z and its sliders --------------------------------------------------------------
async function decode() {
  if (S.busy) { S.pending = true; return; }  // keep one request in flight, send the latest z
  S.busy = true;
  try {
    const out = await api("/api/decode", { z: [S.z], label: label() });
    drawExamples($("decoded"), out.x);
    $("z-text").textContent = "z = [" + S.z.map((v) => v.toFixed(2)).join(", ") + "]";
  } catch (e) { showError(e); }
  S.busy = false;
  if (S.pending) { S.pending = false; decode(); }
}

function makeSliders() {
  const box = $("sliders");
  S.card.sliders.forEach((u) => {
    const row = document.createElement("label");
    const value = document.createElement("span");
    const input = Object.assign(document.createElement("input"),
      { type: "range", min: -4, max: 4, step: 0.01, value: S.z[u] });
    input.dataset.dim = u;
    input.title = `activity ${S.card.activity[u].toFixed(3)}`;
    input.addEventListener("input", () => {
      S.z[u] = Number(input.value);
      value.textContent = S.z[u].toFixed(2);
      decode();
    });
    value.textContent = S.z[u].toFixed(2);
    row.append(`z${u + 1}`, input, value);
    box.append(row);
  });
}

function setSliders() {
  document.querySelectorAll("#sliders input").forEach((input) => {
    const u = Number(input.dataset.dim);
    input.value = S.z[u];
    input.nextSibling.textContent = S.z[u].toFixed(2);
  });
}

// -- interpolation, samples, upload -------------------------------------------------------------
async function interpolate() {
  try {
    const body = { a: Number($("interp-a").value), b: Number($("interp-b").value),
      steps: Number($("interp-steps").value) };
    const out = await api("/api/interpolate", body);
    drawExamples($("strip"), out.x);
  } catch (e) { showError(e); }
}

async function sample() {
  try {
    const body = { n: Number($("sample-n").value), seed: Number($("sample-seed").value),
      label: label() };
    const out = await api("/api/sample", body);
    drawExamples($("samples"), out.x, Math.min(out.x.length, 16));
  } catch (e) { showError(e); }
}

async function upload() {
  const file = $("upload").files[0];
  if (!file) return;
  const form = new FormData();
  form.append("file", file);
  try {
    const response = await fetch("/api/encode/image", { method: "POST", body: form });
    const data = await response.json();
    if (!response.ok) throw new Error(`/api/encode/image: ${JSON.stringify(data.detail)}`);
    S.z = data.z[0];
    $("upload-score").textContent = data.score === null ? "" :
      `${data.score_method} score ${data.score[0].toPrecision(4)} (higher = more anomalous)`;
    setSliders();
    decode();
  } catch (e) { showError(e); }
}

// -- the model card ---------------------------------------------------------------------------
function flatten(obj, prefix = "", out = []) {
  Object.entries(obj || {}).forEach(([k, v]) => {
    if (v !== null && typeof v === "object" && !Array.isArray(v)) flatten(v, `${prefix}${k}.`, out);
    else out.push([prefix + k, typeof v === "number" ? +v.toPrecision(6) : JSON.stringify(v)]);
  });
  return out;
}

function fillTable(table, rows) {
  if (!rows.length) rows = [["(none)", ""]];
  rows.forEach(([k, v]) => {
    const tr = table.insertRow();
    tr.insertCell().textContent = k;
    Object.assign(tr.insertCell(), { textContent: v, className: "v" });
  });
}

function drawCurves() {
  const canvas = $("curves"), ctx = canvas.getContext("2d"), h = S.card.history, pad = 40;
  const series = [["train_elbo", "#1f77b4"], ["val_elbo", "#ff7f0e"]]
    .filter(([key]) => h.some((r) => Number.isFinite(r[key])));
  const values = series.flatMap(([key]) => h.map((r) => r[key]).filter(Number.isFinite));
  if (!values.length) { ctx.fillText("no epochs recorded", pad, pad); return; }
  const lo = Math.min(...values), hi = Math.max(...values) + 1e-9, n = Math.max(h.length - 1, 1);
  const px = (i) => pad + (i / n) * (canvas.width - 2 * pad);
  const py = (v) => canvas.height - pad - ((v - lo) / (hi - lo)) * (canvas.height - 2 * pad);
  ctx.font = "12px sans-serif";
  ctx.fillStyle = "#444";
  ctx.fillText(hi.toFixed(1), 2, pad);
  ctx.fillText(lo.toFixed(1), 2, canvas.height - pad);
  ctx.fillText(`epoch 1 .. ${h.length}`, canvas.width / 2 - 30, canvas.height - 10);
  series.forEach(([key, colour], s) => {
    ctx.strokeStyle = colour;
    ctx.fillStyle = colour;
    ctx.beginPath();
    h.forEach((r, i) => (i ? ctx.lineTo(px(i), py(r[key])) : ctx.moveTo(px(i), py(r[key]))));
    ctx.stroke();
    ctx.fillText(key, canvas.width - 100, 16 + 14 * s);
  });
}

// -- start ------------------------------------------------------------------------------------
async function main() {
  try {
    [S.card, S.map] = await Promise.all([api("/api/card"), api("/api/map")]);
  } catch (e) { showError(e); return; }
  const c = S.card;
  $("summary").textContent = `${c.name}: ${c.shape.join("x")} ${c.kind} data, ` +
    `${c.latent_dim}-D latent${c.classes ? `, ${c.classes} classes` : ""}`;
  $("map-title").textContent = S.map.title;
  if (c.classes > 0) {
    for (let y = 0; y < c.classes; y++) $("label").add(new Option(c.class_names?.[y] ?? y, y));
    $("label-row").hidden = false;
    $("label").addEventListener("change", decode);
  }
  $("upload-section").hidden = !c.image;
  S.z = new Array(c.latent_dim).fill(0);
  drawMap();
  makeSliders();
  drawCurves();
  fillTable($("evaluation"), flatten(c.evaluation));
  fillTable($("config"), flatten(c.config));
  $("map").addEventListener("mousemove", hover);
  $("map").addEventListener("click", clickMap);
  $("interp-run").addEventListener("click", interpolate);
  $("sample-run").addEventListener("click", sample);
  $("upload").addEventListener("change", upload);
  await Promise.all([decode(), sample(), interpolate()]);
  document.body.dataset.ready = "1";
}

main();
