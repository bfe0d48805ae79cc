/* Small SVG time-series charts: zone bands, measured line, forecast cone, axes, hover readout. */
"use strict";
window.KzChart = (function () {
  const NS = "http://www.w3.org/2000/svg";
  const M = { l: 46, r: 12, t: 22, b: 26 };
  const DAY = 86400;

  function s(tag, attrs, parent) {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (parent) parent.appendChild(e);
    return e;
  }
  function niceStep(span, n) {
    const raw = span / n, p = Math.pow(10, Math.floor(Math.log10(raw))), f = raw / p;
    return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * p;
  }
  function timeTicks(t0, t1, n) {
    const span = t1 - t0;
    const steps = [3600, 6 * 3600, DAY, 2 * DAY, 7 * DAY, 14 * DAY, 30 * DAY, 61 * DAY, 91 * DAY, 182 * DAY, 365 * DAY];
    const step = steps.find((x) => span / x <= n) || 365 * DAY;
    const out = [];
    for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) out.push(t);
    return { ticks: out, step };
  }
  function fmtTime(t, step) {
    const d = new Date(t * 1000), iso = d.toISOString();
    if (step < DAY) return iso.slice(5, 10) + " " + iso.slice(11, 16);
    if (step >= 182 * DAY) return iso.slice(0, 7);
    return iso.slice(5, 10);
  }
  function path(xs, ys, X, Y) {
    let d = "";
    for (let i = 0; i < xs.length; i++) {
      if (ys[i] === null || ys[i] === undefined || !isFinite(ys[i])) continue;
      d += (d ? "L" : "M") + X(xs[i]).toFixed(1) + "," + Y(ys[i]).toFixed(1);
    }
    return d;
  }

  /* opts: {series: [{t, y, color, label, width, step}], bands: [{lo, hi, cls}], cone: {t, lo, mid, hi},
            unit, yMin, yMax, now} */
  function draw(host, opts) {
    host.replaceChildren();
    const W = host.clientWidth || 600, H = host.clientHeight || 300;
    const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, class: "kz-chart" }, host);
    const all = [];
    for (const se of opts.series) for (const t of se.t) all.push(t);
    const cone = opts.cone && opts.cone.t && opts.cone.t.length ? opts.cone : null;
    if (cone) all.push(...cone.t);
    if (!all.length) {
      s("text", { x: W / 2, y: H / 2, "text-anchor": "middle", fill: "#667085" }, svg).textContent = "No data yet";
      return;
    }
    let t0 = Math.min(...opts.series.map((x) => x.t[0]).filter((v) => v !== undefined), cone ? cone.t[0] : Infinity);
    let t1 = Math.max(...opts.series.map((x) => x.t[x.t.length - 1]).filter((v) => v !== undefined), cone ? cone.t[cone.t.length - 1] : -Infinity);
    if (t1 <= t0) t1 = t0 + 3600;
    let ymax = opts.yMax || 0, ymin = opts.yMin !== undefined ? opts.yMin : Infinity;
    for (const se of opts.series) for (const y of se.y) { if (y > ymax) ymax = y; if (opts.yMin === undefined && y < ymin) ymin = y; }
    if (cone) for (const y of cone.hi) if (y > ymax) ymax = y;
    if (!isFinite(ymin)) ymin = 0;
    if (ymax <= ymin) ymax = ymin + 1;
    const ystep = niceStep(ymax - ymin, 5);
    ymax = Math.ceil(ymax / ystep) * ystep; ymin = Math.floor(ymin / ystep) * ystep;
    const X = (t) => M.l + ((t - t0) / (t1 - t0)) * (W - M.l - M.r);
    const Y = (y) => H - M.b - ((y - ymin) / (ymax - ymin)) * (H - M.t - M.b);
    const clip = "c" + Math.random().toString(36).slice(2);
    s("rect", { x: M.l, y: M.t, width: W - M.l - M.r, height: H - M.t - M.b }, s("clipPath", { id: clip }, svg));
    const plot = s("g", { "clip-path": `url(#${clip})` }, svg);
    for (const b of opts.bands || []) {
      const hi = Math.min(b.hi, ymax), lo = Math.max(b.lo, ymin);
      if (hi <= lo) continue;
      s("rect", { x: M.l, width: W - M.l - M.r, y: Y(hi), height: Y(lo) - Y(hi), class: "band " + b.cls, fill: b.fill }, plot);
      s("text", { x: M.l + 6, y: Y(hi) + 12, "font-size": 11, fill: b.ink }, plot).textContent = b.label;
    }
    const g = s("g", { "font-size": 11, fill: "#667085" }, svg);
    for (let y = ymin; y <= ymax + 1e-9; y += ystep) {
      s("line", { x1: M.l, x2: W - M.r, y1: Y(y), y2: Y(y), stroke: "#0001" }, g);
      s("text", { x: M.l - 6, y: Y(y) + 4, "text-anchor": "end" }, g).textContent = +y.toFixed(2);
    }
    const tt = timeTicks(t0, t1, Math.max(3, Math.floor((W - M.l) / 90)));
    for (const t of tt.ticks) {
      s("line", { x1: X(t), x2: X(t), y1: H - M.b, y2: H - M.b + 4, stroke: "#98a2b3" }, g);
      s("text", { x: X(t), y: H - 8, "text-anchor": "middle" }, g).textContent = fmtTime(t, tt.step);
    }
    if (opts.unit) s("text", { x: 4, y: 12, "font-size": 11, fill: "#667085" }, svg).textContent = opts.unit;
    if (cone) {
      const up = cone.t.map((t, i) => X(t).toFixed(1) + "," + Y(cone.hi[i]).toFixed(1));
      const dn = cone.t.map((t, i) => X(t).toFixed(1) + "," + Y(cone.lo[i]).toFixed(1)).reverse();
      s("polygon", { points: up.concat(dn).join(" "), fill: "rgba(124,58,237,.18)", stroke: "#7c3aed", "stroke-dasharray": "4 3", "stroke-width": 1, class: "cone" }, plot);
      s("path", { d: path(cone.t, cone.mid, X, Y), fill: "none", stroke: "#7c3aed", "stroke-width": 2, "stroke-dasharray": "6 4", class: "cone-mid" }, plot);
    }
    for (const se of opts.series) {
      if (se.t.length === 1) s("circle", { cx: X(se.t[0]), cy: Y(se.y[0]), r: 3, fill: se.color || "#0f5bd8" }, plot);
      s("path", { d: path(se.t, se.y, X, Y), fill: "none", stroke: se.color || "#0f5bd8", "stroke-width": se.width || 1.4, "stroke-linejoin": "round", class: "series" }, plot);
    }
    if (opts.now) {
      s("line", { x1: X(opts.now), x2: X(opts.now), y1: M.t, y2: H - M.b, stroke: "#101828", "stroke-dasharray": "2 3" }, plot);
      s("text", { x: X(opts.now) - 4, y: H - M.b - 6, "font-size": 11, fill: "#101828", "text-anchor": "end" }, plot).textContent = "now";
    }
    hover(host, svg, opts.series[0], X, Y, opts.unit || "", W, H);
  }

  function hover(host, svg, se, X, Y, unit, W, H) {
    if (!se || !se.t.length) return;
    const tip = document.createElement("div"); tip.className = "tip"; host.appendChild(tip);
    const mark = s("circle", { r: 4, fill: se.color || "#0f5bd8", stroke: "#fff", "stroke-width": 2, visibility: "hidden" }, svg);
    svg.addEventListener("mousemove", (ev) => {
      const r = svg.getBoundingClientRect(), x = ((ev.clientX - r.left) / r.width) * W;
      let lo = 0, hi = se.t.length - 1;
      while (hi - lo > 1) { const m = (lo + hi) >> 1; if (X(se.t[m]) < x) lo = m; else hi = m; }
      const i = Math.abs(X(se.t[lo]) - x) < Math.abs(X(se.t[hi]) - x) ? lo : hi;
      mark.setAttribute("cx", X(se.t[i])); mark.setAttribute("cy", Y(se.y[i])); mark.setAttribute("visibility", "visible");
      tip.textContent = new Date(se.t[i] * 1000).toISOString().slice(0, 16).replace("T", " ") + "  " + (+se.y[i].toFixed(3)) + " " + unit;
      tip.style.display = "block";
      tip.style.left = Math.min(r.width - 170, Math.max(0, (X(se.t[i]) / W) * r.width + 10)) + "px";
      tip.style.top = Math.max(0, (Y(se.y[i]) / H) * r.height - 30) + "px";
    });
    svg.addEventListener("mouseleave", () => { tip.style.display = "none"; mark.setAttribute("visibility", "hidden"); });
  }

  function zoneBands(z, top) {
    const c = { A: ["#e6f5ec", "#1d6b3d"], B: ["#f2f7df", "#5a7010"], C: ["#fdf1dc", "#9a5b00"], D: ["#fbe3e3", "#a51c1c"] };
    const lims = [["A", 0, z.A], ["B", z.A, z.B], ["C", z.B, z.C], ["D", z.C, Math.max(top, (z.C || 0) * 3)]];
    return lims.filter((l) => l[2] !== undefined && l[1] !== undefined)
      .map(([k, lo, hi]) => ({ lo, hi, cls: "z" + k, fill: c[k][0], ink: c[k][1], label: "zone " + k }));
  }
  return { draw, zoneBands };
})();
