#include "attend/serve/explorer.hpp"

namespace attend {

namespace {

// The page asks /v1/models for the loaded models, then /v1/translate once per chosen model with
// the same sentence, and draws each answer in its own panel, side by side. ?text=... fills the
// sentence in and translates it on load (links, screenshots). #render-check holds what was
// actually laid out (cells with a non-empty box per model), for the browser test. A Transformer
// model's panel has pickers of the attention view: the kind (cross-attention, or the encoder's
// self-attention when the model has one), the layer, and the head (the mean over the layer's
// heads, one head, or all heads side by side); choosing one redraws its heatmap. Under the map,
// a table of each view's entropy and diagonality (computed by the server: attention_summary.hpp).
// An ensemble's panel shows the ensemble's translation and, with the kind picker, each member's
// attention ("model 1", "model 2", …: the views its answer carries), model 1's first.
const char* const kPage = R"PAGE(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>attend: attention explorer</title>
<style>
  body { font: 15px/1.4 system-ui, sans-serif; margin: 0; color: #1d232a; background: #f6f7f9; }
  header { background: #243447; color: #fff; padding: 10px 20px; }
  header h1 { font-size: 18px; margin: 0; font-weight: 600; }
  header span { opacity: .75; font-size: 13px; }
  form { display: flex; flex-wrap: wrap; gap: 10px; align-items: center; padding: 14px 20px;
         background: #fff; border-bottom: 1px solid #dde1e6; }
  #src { flex: 1 1 360px; font-size: 16px; padding: 7px 9px; border: 1px solid #b8c0ca; border-radius: 4px; }
  label { font-size: 13px; color: #4a5560; }
  input[type=number] { width: 3.5em; padding: 4px; }
  button { font-size: 15px; padding: 7px 16px; background: #2f6fb2; color: #fff; border: 0; border-radius: 4px; cursor: pointer; }
  button:disabled { background: #8aa6c4; }
  #models { display: flex; gap: 10px; flex-wrap: wrap; font-size: 13px; }
  #panels { display: flex; gap: 16px; padding: 16px 20px; align-items: flex-start; flex-wrap: wrap; }
  .panel { background: #fff; border: 1px solid #dde1e6; border-radius: 6px; padding: 12px 14px; min-width: 280px; }
  .panel h2 { font-size: 15px; margin: 0 0 2px; }
  .panel .config { font-size: 12px; color: #66717c; margin-bottom: 8px; }
  /* Notes that wrap to the panel's width instead of widening it. */
  .panel .config, .panel .note { width: 0; min-width: 100%; }
  .note { font-size: 12px; color: #66717c; margin-top: 2px; }
  .translation { font-size: 18px; font-weight: 600; margin: 4px 0 8px; white-space: pre-wrap; }
  .translation.empty { color: #99a2ab; font-weight: 400; }
  .error { color: #b3261e; white-space: pre-wrap; }
  table.nbest { border-collapse: collapse; font-size: 13px; margin-bottom: 10px; }
  table.nbest td { padding: 1px 8px 1px 0; }
  table.nbest td.score { color: #66717c; font-variant-numeric: tabular-nums; text-align: right; }
  .pickers { display: flex; gap: 10px; flex-wrap: wrap; margin-bottom: 6px; }
  .pickers select { font-size: 13px; padding: 2px 4px; }
  .grid { display: flex; gap: 10px; flex-wrap: wrap; }
  .grid figure { margin: 0; }
  .grid figcaption { font-size: 12px; color: #4a5560; }
  table.summary { border-collapse: collapse; font-size: 12px; margin-top: 10px; font-variant-numeric: tabular-nums; }
  table.summary th, table.summary td { padding: 2px 7px; border-bottom: 1px solid #e6e9ed; text-align: right; }
  table.summary th:first-child, table.summary td:first-child { text-align: left; }
  table.summary th { color: #4a5560; font-weight: 600; }
  table.summary tr.current td { background: #fff4d6; }
  table.summary tbody tr { cursor: pointer; }

  svg text { font: 12px ui-monospace, monospace; fill: #1d232a; }
  svg rect.cell { stroke: #fff; stroke-width: 1; }
  svg rect.cell:hover { stroke: #d9480f; stroke-width: 2; }
  .legend { font-size: 12px; color: #4a5560; margin: 4px 0; }
  .legend svg { vertical-align: middle; margin: 0 4px 0 0; }
  #tip { position: fixed; pointer-events: none; background: #1d232a; color: #fff; font-size: 12px;
         padding: 3px 7px; border-radius: 3px; display: none; }
  #render-check { display: none; }
</style>
</head>
<body>
<header><h1>attention explorer <span>attend serve</span></h1></header>
<form id="ask">
  <input id="src" type="text" placeholder="type a sentence" autocomplete="off" autofocus>
  <label>beam <input id="beam" type="number" min="1" value="4"></label>
  <label>n-best <input id="nbest" type="number" min="1" value="3"></label>
  <button id="go" type="submit">Translate</button>
  <div id="models"></div>
</form>
<div id="panels"></div>
<!-- An exact zero weight (sparsemax, entmax15) is hatched, not shaded: a shade near white would
     look the same for 0 and for 0.001. -->
<svg width="0" height="0" style="position:absolute" aria-hidden="true"><defs>
  <pattern id="zero-hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">
    <rect width="6" height="6" fill="#ffffff"></rect><line x1="0" y1="0" x2="0" y2="6" stroke="#b8c0c8" stroke-width="2"></line>
  </pattern></defs></svg>
<div id="tip"></div>
<pre id="render-check" data-ok="0"></pre>
<script>
"use strict";
const SVGNS = "http://www.w3.org/2000/svg";
let models = [];
// The API key, when the server asks for one (401): asked once, kept for this tab.
let apiKey = sessionStorage.getItem("attend-api-key") || "";
let asking = null;
async function api(path, options) {
  for (let attempt = 0; ; attempt++) {
    const o = Object.assign({}, options || {});
    o.headers = Object.assign({}, o.headers || {});
    if (apiKey) o.headers.Authorization = "Bearer " + apiKey;
    const res = await fetch(path, o);
    if (res.status !== 401 || attempt >= 2) return res;
    const tried = apiKey;
    if (!asking) asking = Promise.resolve().then(() => {
      const key = window.prompt(tried ? "That API key was refused. API key:" : "This server needs an API key:");
      if (key) { apiKey = key.trim(); sessionStorage.setItem("attend-api-key", apiKey); }
      asking = null;
      return key;
    });
    if (!(await asking) && apiKey === tried) return res;
  }
}

function el(tag, attrs, text) {
  const e = tag.startsWith("svg:") ? document.createElementNS(SVGNS, tag.slice(4)) : document.createElement(tag);
  for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
  if (text !== undefined) e.textContent = text;
  return e;
}
function label(tok) {
  if (tok === " ") return "\u2423";
  return tok.length > 12 ? tok.slice(0, 11) + "\u2026" : tok;
}
function shade(w) {  // white to deep blue
  const t = Math.max(0, Math.min(1, w));
  const c = (a, b) => Math.round(a + (b - a) * Math.sqrt(t));
  return "rgb(" + c(247, 8) + "," + c(251, 48) + "," + c(255, 107) + ")";
}
// A weight as the tooltip shows it: an exact zero (sparsemax, entmax15) says so, a tiny non-zero
// one keeps its magnitude.
function weightText(w) {
  if (w === 0) return "0 (exactly)";
  return w < 0.001 ? w.toExponential(1) : w.toFixed(3);
}
function describe(m) {
  if (m.members) return [m.summary, m.tokenizer, "vocab " + m.src_vocab + "/" + m.tgt_vocab].join(" \u00b7 ") + ": " +
    m.members.map((x, i) => "model " + (i + 1) + " = " + x.file + " (" + x.summary + ")").join("; ");
  if (m.summary) return [m.summary, m.tokenizer, "vocab " + m.src_vocab + "/" + m.tgt_vocab].join(" \u00b7 ");
  const c = m.config || {};
  const tf = c.decoder === "transformer";
  return [tf ? "transformer decoder" : c.cell, c.attention, c.hidden && ("hidden " + c.hidden), m.tokenizer,
          "vocab " + m.src_vocab + "/" + m.tgt_vocab]
    .filter(Boolean).join(" \u00b7 ");
}

// The heatmap: output tokens down the left, source tokens across the top, one cell per weight.
function heatmap(src, out, weights, cell) {
  cell = cell || 24;
  const left = 12 + 7.5 * Math.max(3, ...out.map(t => label(t).length));
  const top = 14 + 6 * Math.max(3, ...src.map(t => label(t).length));
  const svg = el("svg:svg", { class: "heatmap", width: left + cell * src.length + 4, height: top + cell * out.length + 4 });
  src.forEach((t, j) => {
    const x = left + j * cell + cell / 2, y = top - 6;
    svg.appendChild(el("svg:text", { x, y, transform: "rotate(-60 " + x + " " + y + ")", class: "src-label" }, label(t)));
  });
  out.forEach((t, i) => {
    svg.appendChild(el("svg:text", { x: left - 6, y: top + i * cell + cell * 0.68, "text-anchor": "end", class: "out-label" }, label(t)));
    (weights[i] || []).forEach((w, j) => {
      const zero = w === 0;
      const r = el("svg:rect", { class: zero ? "cell zero" : "cell", x: left + j * cell, y: top + i * cell,
                                 width: cell, height: cell, fill: zero ? "url(#zero-hatch)" : shade(w),
                                 "data-w": w.toFixed(4), "data-zero": zero ? "1" : "0", "data-src": src[j], "data-out": t });
      r.appendChild(el("svg:title", {}, label(t) + " \u2190 " + label(src[j]) + ": " + weightText(w)));
      svg.appendChild(r);
    });
  });
  return svg;
}

// Under a map with exact zeros: what the hatching means.
function zeroLegend(weights) {
  if (!weights.some(row => (row || []).some(w => w === 0))) return null;
  const box = el("div", { class: "legend zero-legend" });
  const swatch = el("svg:svg", { width: 14, height: 14 });
  swatch.appendChild(el("svg:rect", { width: 14, height: 14, fill: "url(#zero-hatch)", stroke: "#b8c0c8" }));
  box.appendChild(swatch);
  box.appendChild(document.createTextNode("exactly 0 (a sparse attention: sparsemax, entmax15); " +
                                          "the palest blue is a small weight above 0"));
  return box;
}

function showTip(ev) {
  const r = ev.target.closest && ev.target.closest("rect.cell");
  const tip = document.getElementById("tip");
  if (!r) { tip.style.display = "none"; return; }
  tip.textContent = label(r.dataset.out) + " \u2190 " + label(r.dataset.src) + "  " +
                    (r.dataset.zero === "1" ? "0 (exactly)" : r.dataset.w);
  tip.style.left = (ev.clientX + 12) + "px";
  tip.style.top = (ev.clientY + 12) + "px";
  tip.style.display = "block";
}

function render(panel, m, answer) {
  const t = answer.translations[0];
  const out = t.tokens.slice();
  if (t.finished) out.push("</s>");
  panel.appendChild(el("div", { class: "translation" + (t.text ? "" : " empty") }, t.text || "(empty)"));
  const table = el("table", { class: "nbest" });
  t.nbest.forEach((h, k) => {
    const tr = el("tr");
    tr.appendChild(el("td", {}, (k + 1) + "."));
    tr.appendChild(el("td", { class: "score" }, h.score.toFixed(3)));
    tr.appendChild(el("td", {}, h.text));
    table.appendChild(tr);
  });
  panel.appendChild(table);
  if (!(t.attention && t.attention.length)) {
    panel.appendChild(el("div", { class: "config" }, "no attention weights (empty input or a model without attention)"));
    return;
  }
  // The kinds of attention the answer has: the cross-attention (one map for a recurrent decoder;
  // every layer's and head's for a Transformer decoder) and, for an encoder with self-attention,
  // the encoder's (source × source). Each kind's default map is the mean over its last layer's heads.
  const names = t.attention_view_names || [];
  // An ensemble's views are its members' attention, "model 1", "model 2", …: one kind each (the
  // first is "attention"), and the summary table lists them all.
  const ensemble = names.length > 0 && names.every(n => /^model \d+$/.test(n));
  const kinds = ensemble
    ? names.map(n => ({ key: n, label: n, ensemble: true, names: [], views: {}, mean: t.attention_views[n] || [],
                        rows: out, summary: (t.attention_summary || []).filter(s => s.view !== "mean") }))
    : [{ key: "cross", label: "cross-attention", names, views: t.attention_views || {}, mean: t.attention, rows: out,
         summary: t.attention_summary || [] }];
  if ((t.encoder_attention_view_names || []).length)
    kinds.push({ key: "encoder", label: "encoder self-attention", names: t.encoder_attention_view_names,
                 views: t.encoder_attention_views || {}, mean: t.encoder_attention, rows: t.source_tokens,
                 summary: t.encoder_attention_summary || [] });
  kinds.forEach(k => {  // "… layer L head H" names: the layers and heads
    k.layers = []; k.heads = [];
    k.names.forEach(n => {
      const g = /layer (\d+) head (\d+)$/.exec(n);
      if (!g) return;
      if (!k.layers.includes(+g[1])) k.layers.push(+g[1]);
      if (!k.heads.includes(+g[2])) k.heads.push(+g[2]);
    });
    k.prefix = k.names.length ? k.names[0].replace(/layer \d+ head \d+$/, "") : "";
  });
  const pickers = el("div", { class: "pickers" });
  const kindSel = el("select", { class: "view-kind", "aria-label": "attention kind" });
  kinds.forEach(k => kindSel.appendChild(el("option", { value: k.key }, k.label)));
  const layerSel = el("select", { class: "view-layer", "aria-label": "layer" });
  const headSel = el("select", { class: "view-head", "aria-label": "head" });
  const kindLabel = el("label", {}, "attention "), layerLabel = el("label", {}, "layer "), headLabel = el("label", {}, "head ");
  kindLabel.appendChild(kindSel); layerLabel.appendChild(layerSel); headLabel.appendChild(headSel);
  [kindLabel, layerLabel, headLabel].forEach(l => pickers.appendChild(l));
  const map = el("div", { class: "map" });
  const summary = el("div", { class: "summaries" });
  panel.appendChild(pickers);
  panel.appendChild(map);
  panel.appendChild(summary);

  const kind = () => kinds.find(k => k.key === kindSel.value) || kinds[0];
  function fillPickers() {  // the chosen kind's layers (the last by default) and heads (the mean by default)
    const k = kind();
    layerSel.textContent = ""; headSel.textContent = "";
    k.layers.forEach(l => layerSel.appendChild(el("option", { value: String(l) }, String(l))));
    layerSel.value = String(k.layers[k.layers.length - 1]);
    headSel.appendChild(el("option", { value: "mean" }, "mean of heads"));
    headSel.appendChild(el("option", { value: "all" }, "all heads"));
    k.heads.forEach(h => headSel.appendChild(el("option", { value: String(h) }, String(h))));
    kindLabel.style.display = kinds.length > 1 ? "" : "none";
    layerLabel.style.display = headLabel.style.display = k.names.length ? "" : "none";
    pickers.style.display = kinds.length > 1 || k.names.length ? "" : "none";
  }
  function rowsOf(k, layer, head) {  // the server's rows; the mean of another layer than the last here
    if (!k.names.length) return k.mean;
    if (head !== "mean") return k.views[k.prefix + "layer " + layer + " head " + head] || [];
    if (layer === k.layers[k.layers.length - 1]) return k.mean;
    const maps = k.heads.map(h => k.views[k.prefix + "layer " + layer + " head " + h] || []);
    return maps[0].map((row, i) => row.map((_, j) => maps.reduce((a, v) => a + v[i][j], 0) / maps.length));
  }
  function viewName(k, layer, head) {  // what the summary table and data-view call it
    if (k.ensemble) return k.key;
    if (!k.names.length || (head === "mean" && layer === k.layers[k.layers.length - 1])) return k.prefix + "mean";
    return k.prefix + "layer " + layer + (head === "mean" ? " mean" : " head " + head);
  }
  function draw(byUser) {  // byUser: redrawn after the page's first layout, so report it
    const k = kind(), layer = Number(layerSel.value), head = headSel.value;
    map.textContent = "";
    if (k.names.length && head === "all") {
      map.dataset.view = k.prefix + "layer " + layer + " all";
      const grid = el("div", { class: "grid" });
      k.heads.forEach(h => {
        const f = el("figure");
        f.appendChild(el("figcaption", {}, "head " + h));
        f.appendChild(heatmap(t.source_tokens, k.rows, rowsOf(k, layer, String(h)), 14));
        grid.appendChild(f);
      });
      map.appendChild(grid);
      const legend = zeroLegend([].concat(...k.heads.map(h => rowsOf(k, layer, String(h)))));
      if (legend) map.appendChild(legend);
    } else {
      map.dataset.view = viewName(k, layer, head);
      const rows = rowsOf(k, layer, head) || [];
      map.appendChild(heatmap(t.source_tokens, k.rows, rows));
      const legend = zeroLegend(rows);
      if (legend) map.appendChild(legend);
    }
    // The table: per view, mean row entropy (nats) against ln S, and how diagonal it is.
    summary.textContent = "";
    if (k.summary.length) {
      const table = el("table", { class: "summary" });
      const head_ = el("tr");
      ["view", "entropy", "ln S", "diag. mass", "diag. argmax"].forEach(h => head_.appendChild(el("th", {}, h)));
      const thead = el("thead"); thead.appendChild(head_); table.appendChild(thead);
      const body = el("tbody");
      k.summary.forEach(s => {
        const tr = el("tr", { "data-view": s.view });
        if (s.view === map.dataset.view || (s.view === "mean" && map.dataset.view === k.prefix + "mean"))
          tr.classList.add("current");
        tr.appendChild(el("td", {}, s.view === k.prefix + "mean" || s.view === "mean"
                                        ? (k.names.length ? "mean of last layer" : "attention") : s.view.slice(k.prefix.length)));
        [s.entropy, s.uniform_entropy, s.diagonal_mass, s.diagonal_argmax]
          .forEach(x => tr.appendChild(el("td", {}, Number(x).toFixed(3))));
        tr.addEventListener("click", () => {  // show that view
          if (kinds.some(x => x.ensemble && x.key === s.view)) { kindSel.value = s.view; fillPickers(); }
          const g = /layer (\d+) head (\d+)$/.exec(s.view);
          layerSel.value = g ? g[1] : String(k.layers[k.layers.length - 1]);
          headSel.value = g ? g[2] : "mean";
          draw(true);
        });
        body.appendChild(tr);
      });
      table.appendChild(body);
      summary.appendChild(table);
      summary.appendChild(el("div", { class: "note" }, k.label + " per view: mean entropy of a row in nats (a uniform row " +
        "has ln S); diag. mass = mean weight within \u00b11 of the diagonal position i\u00b7S/T, diag. argmax = share " +
        "of rows whose largest weight is there. Click a row to show it."));
    }
    if (byUser) check();
  }
  kindSel.addEventListener("change", () => { fillPickers(); draw(true); });
  layerSel.addEventListener("change", () => draw(true));
  headSel.addEventListener("change", () => draw(true));
  fillPickers();
  draw(false);
}

function check() {  // what was laid out, per model
  const report = {};
  document.querySelectorAll(".panel").forEach(p => {
    const cells = p.querySelectorAll("rect.cell");
    let drawn = 0;
    cells.forEach(c => { const b = c.getBBox(); if (b.width > 0 && b.height > 0) drawn++; });
    const tr = p.querySelector(".translation");
    report[p.dataset.model] = { cells: cells.length, drawn, translation: tr ? tr.textContent : null,
                                nbest: p.querySelectorAll("table.nbest tr").length,
                                src_labels: p.querySelectorAll("text.src-label").length,
                                out_labels: p.querySelectorAll("text.out-label").length,
                                kinds: [...p.querySelectorAll("select.view-kind option")].map(o => o.value),
                                kind_shown: !!p.querySelector("select.view-kind") && p.querySelector("select.view-kind").parentNode.style.display !== "none",
                                layers: p.querySelectorAll("select.view-layer option").length,
                                heads: p.querySelectorAll("select.view-head option").length,
                                summary: [...p.querySelectorAll("table.summary tbody tr")].map(r => r.dataset.view),
                                view: (p.querySelector(".map") || { dataset: {} }).dataset.view || null,
                                weights: [...p.querySelectorAll("rect.cell")].slice(0, 64).map(c => Number(c.dataset.w)),
                                error: (p.querySelector(".error") || {}).textContent || null };
  });
  const rc = document.getElementById("render-check");
  rc.textContent = JSON.stringify(report);
  rc.dataset.ok = "1";
}

async function translate(ev) {
  if (ev) ev.preventDefault();
  const text = document.getElementById("src").value;
  const beam = Number(document.getElementById("beam").value) || 1;
  const nbest = Math.min(beam, Number(document.getElementById("nbest").value) || 1);
  const chosen = models.filter(m => document.getElementById("use-" + m.name).checked);
  const panels = document.getElementById("panels");
  panels.textContent = "";
  document.getElementById("render-check").dataset.ok = "0";
  document.getElementById("go").disabled = true;
  await Promise.all(chosen.map(async m => {
    const panel = el("div", { class: "panel", "data-model": m.name });
    panel.appendChild(el("h2", {}, m.name));
    panel.appendChild(el("div", { class: "config" }, describe(m)));
    panels.appendChild(panel);
    try {
      const res = await api("/v1/translate", { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ text: [text], model: m.name, beam, nbest, attention: true }) });
      const answer = await res.json();
      if (!res.ok) throw new Error(answer.error || res.statusText);
      render(panel, m, answer);
    } catch (e) {
      panel.appendChild(el("div", { class: "error" }, String(e.message || e)));
    }
  }));
  document.getElementById("go").disabled = false;
  check();
}

async function start() {
  document.getElementById("ask").addEventListener("submit", translate);
  document.getElementById("panels").addEventListener("mousemove", showTip);
  document.getElementById("panels").addEventListener("mouseleave", showTip);
  try {
    const res = await api("/v1/models");
    const answer = await res.json();
    if (!res.ok) throw new Error(answer.error || res.statusText);
    models = answer.models;
  } catch (e) {
    document.getElementById("panels").appendChild(el("div", { class: "error" }, "cannot list the models: " + e));
    return;
  }
  const box = document.getElementById("models");
  models.forEach(m => {
    const l = el("label");
    const c = el("input", { type: "checkbox", id: "use-" + m.name, checked: "" });
    l.appendChild(c);
    l.appendChild(document.createTextNode(" " + m.name));
    box.appendChild(l);
  });
  const given = new URLSearchParams(location.search).get("text");
  if (given !== null) {
    document.getElementById("src").value = given;
    await translate();
  }
  document.body.dataset.ready = "1";
}
start();
</script>
</body>
</html>
)PAGE";

}  // namespace

const std::string& explorer_page() {
  static const std::string page = kPage;
  return page;
}

}  // namespace attend
