// Draws an analysis (see udfs/analysis/plot_html.py plot_data) as SVG. No dependencies.
"use strict";
function drawAnalysis(A, chart, legend, tip) {
  const NS = "http://www.w3.org/2000/svg";
  const W = 1100, H = 560, L = 60, R = 15, TOP = 10, MID = 380, GAP = 30, BOT = 530;
  const hidden = new Set();
  let all = [Infinity, -Infinity];
  for (const s of A.series) for (const t of s.t) { if (t < all[0]) all[0] = t; if (t > all[1]) all[1] = t; }
  if (!(all[1] > all[0])) all = [all[0] - 1, all[0] + 1];
  let view = all.slice();
  const el = (name, attrs, parent) => {
    const e = document.createElementNS(NS, name);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  };
  const fmt = (ms) => new Date(ms).toISOString().replace("T", " ").slice(0, 19);
  function range(pairs) {
    let lo = Infinity, hi = -Infinity;
    for (const [t, v] of pairs) if (t >= view[0] && t <= view[1] && v !== null && isFinite(v)) {
      if (v < lo) lo = v; if (v > hi) hi = v;
    }
    if (!isFinite(lo)) return [0, 1];
    if (hi === lo) return [lo - 1, hi + 1];
    const pad = (hi - lo) * 0.05;
    return [lo - pad, hi + pad];
  }
  function draw() {
    chart.innerHTML = "";
    const svg = el("svg", {viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": A.title}, chart);
    const x = (t) => L + (t - view[0]) / (view[1] - view[0]) * (W - L - R);
    const pts = [];
    for (const s of A.series) for (let i = 0; i < s.t.length; i++) pts.push([s.t[i], s.v[i]]);
    const [vlo, vhi] = range(pts);
    const y = (v) => MID - (v - vlo) / (vhi - vlo) * (MID - TOP);
    const scorePts = [];
    A.detectors.forEach((d) => { if (!hidden.has(d.label)) for (const g of d.scores) scorePts.push(...g); });
    const [slo, shi] = range(scorePts);
    const ys = (v) => BOT - (v - slo) / (shi - slo) * (BOT - MID - GAP);
    const clip = el("clipPath", {id: "plotclip"}, el("defs", {}, svg));
    el("rect", {x: L, y: 0, width: W - L - R, height: H}, clip);
    for (const [a, b] of A.windows) {
      el("rect", {x: x(a), y: TOP, width: Math.max(1, x(b) - x(a)), height: MID - TOP, fill: "#ffd54f",
                  "fill-opacity": 0.35, "clip-path": "url(#plotclip)", class: "window"}, svg);
    }
    for (const [y0, y1] of [[TOP, MID], [MID + GAP, BOT]]) {
      el("rect", {x: L, y: y0, width: W - L - R, height: y1 - y0, fill: "none", stroke: "#999"}, svg);
    }
    const ticks = (lo, hi, n) => { const out = []; for (let i = 0; i <= n; i++) out.push(lo + (hi - lo) * i / n); return out; };
    for (const v of ticks(vlo, vhi, 5)) {
      if (A.states.length) break;
      el("text", {x: L - 5, y: y(v) + 4, "text-anchor": "end", "font-size": 11}, svg).textContent = v.toPrecision(4);
    }
    A.states.forEach((name, i) => {
      el("text", {x: L - 5, y: y(i) + 4, "text-anchor": "end", "font-size": 11}, svg).textContent = name;
    });
    for (const v of ticks(slo, shi, 2)) {
      el("text", {x: L - 5, y: ys(v) + 4, "text-anchor": "end", "font-size": 11}, svg).textContent = v.toPrecision(3);
    }
    for (const t of ticks(view[0], view[1], 6)) {
      el("text", {x: x(t), y: BOT + 18, "text-anchor": "middle", "font-size": 11}, svg).textContent = fmt(t).slice(0, 16);
    }
    el("text", {x: 14, y: (TOP + MID) / 2, transform: `rotate(-90 14 ${(TOP + MID) / 2})`, "text-anchor": "middle",
                "font-size": 12}, svg).textContent = A.field;
    el("text", {x: 14, y: (MID + GAP + BOT) / 2, transform: `rotate(-90 14 ${(MID + GAP + BOT) / 2})`,
                "text-anchor": "middle", "font-size": 12}, svg).textContent = "score";
    const line = (pairs, yf, colour, cls) => {
      let d = "", pen = false;
      for (const [t, v] of pairs) {
        if (v === null || !isFinite(v) || t < view[0] || t > view[1]) { pen = false; continue; }
        d += (pen ? "L" : "M") + x(t).toFixed(1) + " " + yf(v).toFixed(1);
        pen = true;
      }
      el("path", {d, fill: "none", stroke: colour, "stroke-width": 1, class: cls, "clip-path": "url(#plotclip)"}, svg);
    };
    for (const s of A.series) line(s.t.map((t, i) => [t, s.v[i]]), y, "#1f77b4", "series");
    const dots = (marks, colour, r, cls, label) => {
      for (const [t, v] of marks) {
        if (t < view[0] || t > view[1] || v === null) continue;
        const c = el("circle", {cx: x(t), cy: y(v), r, fill: colour, class: cls}, svg);
        c.dataset.tip = `${label}: ${fmt(t)}  ${A.field}=${A.states.length ? A.states[v] : v}`;
      }
    };
    A.detectors.forEach((d) => {
      if (hidden.has(d.label)) return;
      for (const g of d.scores) line(g, ys, d.colour, "score");
      dots(d.anomalies, d.colour, 3, "anomaly", d.label);
    });
    if (!hidden.has("consensus")) dots(A.consensus.anomalies, "#000", 5.5, "consensus", "consensus");
    for (const c of svg.querySelectorAll("circle.consensus")) { c.setAttribute("fill", "none"); c.setAttribute("stroke", "#000"); c.setAttribute("stroke-width", 1.5); }
    const band = el("rect", {x: 0, y: TOP, width: 0, height: BOT - TOP, fill: "#888", "fill-opacity": 0.2}, svg);
    let start = null;
    const toT = (evt) => {
      const box = svg.getBoundingClientRect();
      const px = (evt.clientX - box.left) / box.width * W;
      return view[0] + (px - L) / (W - L - R) * (view[1] - view[0]);
    };
    svg.addEventListener("mousedown", (e) => { start = toT(e); });
    svg.addEventListener("mousemove", (e) => {
      const target = e.target;
      if (target.dataset && target.dataset.tip) {
        tip.textContent = target.dataset.tip; tip.style.display = "block";
        tip.style.left = (e.pageX + 10) + "px"; tip.style.top = (e.pageY + 10) + "px";
      } else tip.style.display = "none";
      if (start === null) return;
      const now = toT(e);
      band.setAttribute("x", x(Math.min(start, now))); band.setAttribute("width", Math.abs(x(now) - x(start)));
    });
    svg.addEventListener("mouseup", (e) => {
      const end = toT(e);
      if (start !== null && Math.abs(x(end) - x(start)) > 5) view = [Math.min(start, end), Math.max(start, end)];
      start = null; draw();
    });
    svg.addEventListener("dblclick", () => { view = all.slice(); draw(); });
  }
  legend.innerHTML = "";
  const entries = A.detectors.map((d) => [d.label, d.colour, `${d.label} (${d.count})`]);
  entries.push(["consensus", "#000", `consensus ${A.consensus.rule} (${A.consensus.count})`]);
  for (const [label, colour, text] of entries) {
    const lab = document.createElement("label");
    const box = document.createElement("input");
    box.type = "checkbox"; box.checked = true; box.dataset.detector = label;
    box.addEventListener("change", () => { if (box.checked) hidden.delete(label); else hidden.add(label); draw(); });
    const swatch = document.createElement("span");
    swatch.textContent = " \u25CF "; swatch.style.color = colour;
    lab.append(box, swatch, text);
    legend.appendChild(lab);
  }
  draw();
}
