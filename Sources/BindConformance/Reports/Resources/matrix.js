// The HTML matrix report's script (MatrixHTML embeds it in the page): it reads the JSON
// data element and draws the grids the filters select.
"use strict";
const D = JSON.parse(document.getElementById("data").textContent);
// Every string once (other fields are indexes into it), the distinct outcome pairs, the grids.
const S = D.strings, P = D.outcomes, G = D.grids;
const str = i => (i >= 0 ? S[i] : "");
const FACETS = ["cells", "transport", "first state", "options (first / second)", "owner", "sysctls"];
const LIMIT = 40, BAD = 500;
let limit = LIMIT;
const filters = document.getElementById("filters"), only = document.getElementById("only");
const box = document.getElementById("grids"), more = document.getElementById("more");
const status = document.getElementById("status"), bad = document.getElementById("bad");
const detail = document.getElementById("detail");
for (const g of G) {
  if (g.keyOverrides.length) { g.keyOverride = new Map(); for (let i = 0; i < g.keyOverrides.length; i += 2) g.keyOverride.set(g.keyOverrides[i], g.keyOverrides[i + 1]); }
}
const selects = FACETS.map((label, fi) => {
  const values = [];
  for (const g of G) if (g.facets[fi] >= 0 && !values.includes(g.facets[fi])) values.push(g.facets[fi]);
  const l = document.createElement("label");
  l.textContent = label + " ";
  const e = document.createElement("select");
  e.add(new Option("all", ""));
  for (const v of values) e.add(new Option(S[v], String(v)));
  if (values.includes(D.defaults[fi])) e.value = String(D.defaults[fi]);
  e.onchange = () => { limit = LIMIT; draw(); };
  l.appendChild(e);
  filters.insertBefore(l, only.parentNode);
  return e;
});
only.onchange = () => { limit = LIMIT; draw(); };
more.onclick = () => { limit = Infinity; draw(); };

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}
function passes(g) {
  for (let i = 0; i < selects.length; i++) {
    const v = selects[i].value;
    if (v !== "" && g.facets[i] >= 0 && String(g.facets[i]) !== v) return false;
  }
  return !(only.checked && g.counts[2] === 0);
}
function key(g, j) {
  const o = g.keyOverride && g.keyOverride.get(j / 4);
  if (o !== undefined) return S[o];
  const c = str(g.columnKeys[g.cells[j + 1]]);
  return str(g.rowKeys[g.cells[j]]) + (c ? " " + c : "");
}
function describe(g, j) {
  const p = P[g.cells[j + 2]], q = g.cells[j + 3];
  const lines = [key(g, j)];
  if (p[2] >= 0) lines.push("skipped: " + S[p[2]]);
  else {
    if (p[4]) lines.push("✗ the model and the kernel differ");
    lines.push("model:  " + (p[0] >= 0 ? S[p[0]] : "–"));
    lines.push("kernel: " + (p[1] >= 0 ? S[p[1]] : "–"));
  }
  if (q >= 0) lines.push("reason: " + S[q]);
  return lines.join("\n");
}
function grid(g) {
  const wrap = el("section", "grid");
  wrap.appendChild(el("h3", "", S[g.title]));
  wrap.appendChild(el("div", "counts", `${g.counts[0]} cells · ${g.counts[1]} agree · ${g.counts[2]} disagree · ${g.counts[3]} skipped`));
  const R = g.rowShort.length, C = g.columnShort.length;
  const m = el("div", "m");
  m.style.gridTemplateColumns = `max-content repeat(${C}, var(--q))`;
  m.appendChild(el("div", "corner", S[g.corner]));
  for (let c = 0; c < C; c++) {
    const h = el("div", "ch", S[g.columnShort[c]]);
    h.title = S[g.columnText[c]];
    m.appendChild(h);
  }
  const squares = new Array(R * C);
  for (let r = 0; r < R; r++) {
    const h = el("div", "rh", S[g.rowShort[r]]);
    h.title = S[g.rowText[r]];
    m.appendChild(h);
    for (let c = 0; c < C; c++) m.appendChild(squares[r * C + c] = el("span", "q none"));
  }
  const d = g.cells;
  for (let j = 0; j < d.length; j += 4) {
    const p = P[d[j + 2]], e = squares[d[j] * C + d[j + 1]];
    e.className = "q " + S[p[3]];
    if (p[4]) e.textContent = "✗";
    e.g = g;
    e.j = j;
  }
  wrap.appendChild(m);
  return wrap;
}
function draw() {
  const shown = G.filter(passes);
  let cells = 0, disagree = 0;
  for (const g of shown) { cells += g.counts[0]; disagree += g.counts[2]; }
  status.textContent = `${shown.length} of ${G.length} grids · ${cells} cells · ${disagree} disagree`;
  box.textContent = "";
  box.classList.toggle("dim", only.checked);
  const frag = document.createDocumentFragment();
  for (const g of shown.slice(0, limit)) frag.appendChild(grid(g));
  box.appendChild(frag);
  more.hidden = shown.length <= limit;
  more.textContent = `show all ${shown.length} grids (${shown.length - limit} more)`;
  listBad(shown);
}
function listBad(shown) {
  bad.textContent = "";
  const rows = [];
  let total = 0;
  for (const g of shown) {
    if (g.counts[2] === 0) continue;
    for (let j = 0; j < g.cells.length; j += 4) {
      const p = P[g.cells[j + 2]];
      if (!p[4]) continue;
      total++;
      if (rows.length < BAD) rows.push([key(g, j), str(p[0]), str(p[1]), str(g.cells[j + 3])]);
    }
  }
  if (!total) return;
  bad.appendChild(el("h2", "", `Disagreements in the grids shown: ${total}` + (total > BAD ? ` (the first ${BAD})` : "")));
  const t = el("table");
  const h = el("tr");
  for (const c of ["cell", "model", "kernel", "model's reason"]) h.appendChild(el("th", "", c));
  t.appendChild(h);
  for (const r of rows) {
    const tr = el("tr");
    for (const c of r) tr.appendChild(el("td", "", c));
    t.appendChild(tr);
  }
  bad.appendChild(t);
}
box.addEventListener("mouseover", e => {
  const t = e.target;
  if (t.g && !t.title) t.title = describe(t.g, t.j);
});
box.addEventListener("click", e => {
  const t = e.target;
  if (!t.g) return;
  detail.lastChild.textContent = describe(t.g, t.j);
  detail.style.display = "block";
});
detail.firstChild.onclick = () => { detail.style.display = "none"; };
draw();
