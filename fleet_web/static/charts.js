/* Small SVG time-series charts: zone bands, measured line, forecast cone, axes, hover readout. */
"use strict";
window.KzChart = (function () {
  const NS = "http://www.w3.org/2000/svg";
  const M = { l: 46, r: 16, t: 22, b: 26 };
  const DAY = 86400;
  const fmtCache = {};

  function s(tag, attrs, parent) {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (parent) parent.appendChild(e);
    return e;
  }
  function niceStep(span, n, integer) {
    const raw = span / n, p = Math.pow(10, Math.floor(Math.log10(raw))), f = raw / p;
    const step = (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * p;
    return integer ? Math.max(1, Math.round(step)) : step;  // counts: no 1.2 starts
  }
  function timeTicks(t0, t1, n) {
    const span = t1 - t0;
    const steps = [3600, 6 * 3600, DAY, 2 * DAY, 7 * DAY, 14 * DAY, 30 * DAY, 61 * DAY, 91 * DAY, 182 * DAY, 365 * DAY];
    const step = steps.find((x) => span / x <= n) || 365 * DAY;
    const out = [];
    for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) out.push(t);
    return { ticks: out, step };
  }
  // Wall-clock parts of an instant in the site's zone (IANA name; the page labels it).
  function parts(t, tz) {
    const key = tz || "UTC";
    const f = fmtCache[key] || (fmtCache[key] = new Intl.DateTimeFormat("en-CA", {
      timeZone: key, year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZoneName: "short",
    }));
    const o = {};
    for (const p of f.formatToParts(new Date(t * 1000))) o[p.type] = p.value;
    return o;
  }
  function fmtTime(t, step, tz) {
    const p = parts(t, tz);
    if (step < DAY) return p.month + "-" + p.day + " " + p.hour + ":" + p.minute;
    if (step >= 182 * DAY) return p.year + "-" + p.month;
    return p.month + "-" + p.day;
  }
  function fmtFull(t, tz, label) {
    const p = parts(t, tz);
    return p.year + "-" + p.month + "-" + p.day + " " + p.hour + ":" + p.minute + " " + (label || p.timeZoneName);
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
            unit, yMin, yMax, now, tz (IANA zone of the time axis), tzLabel (its abbreviation),
            integer (whole-number y ticks),
            failLevel (a horizontal line: the level the forecast calls failure),
            tMax (the time axis ends there at the latest: a forecast years out is clipped)} */
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
    if (opts.tMax && t1 > opts.tMax) t1 = Math.max(opts.tMax, t0 + 3600);  // a far P90 is clipped
    if (t1 <= t0) t1 = t0 + 3600;
    let ymax = opts.yMax || 0, ymin = opts.yMin !== undefined ? opts.yMin : Infinity;
    for (const se of opts.series) for (const y of se.y) { if (y > ymax) ymax = y; if (opts.yMin === undefined && y < ymin) ymin = y; }
    if (cone) for (const y of cone.hi) if (y > ymax) ymax = y;
    if (opts.failLevel && opts.failLevel > ymax) ymax = opts.failLevel * 1.05;
    if (!isFinite(ymin)) ymin = 0;
    if (ymax <= ymin) ymax = ymin + 1;
    const ystep = niceStep(ymax - ymin, 5, opts.integer);
    ymax = Math.ceil(ymax / ystep) * ystep; ymin = Math.floor(ymin / ystep) * ystep;
    const X = (t) => M.l + ((t - t0) / (t1 - t0)) * (W - M.l - M.r);
    const Y = (y) => H - M.b - ((y - ymin) / (ymax - ymin)) * (H - M.t - M.b);
    const clip = "c" + Math.random().toString(36).slice(2);
    s("rect", { x: M.l, y: M.t, width: W - M.l - M.r, height: H - M.t - M.b }, s("clipPath", { id: clip }, svg));
    const plot = s("g", { "clip-path": `url(#${clip})` }, svg);
    let lastLabel = Infinity;  // y of the last band label drawn: labels never overlap
    for (const b of opts.bands || []) {
      const hi = Math.min(b.hi, ymax), lo = Math.max(b.lo, ymin);
      if (hi <= lo) continue;
      s("rect", { x: M.l, width: W - M.l - M.r, y: Y(hi), height: Y(lo) - Y(hi), class: "band " + b.cls, fill: b.fill }, plot);
      // The label sits in the band's middle, only where the band is tall enough to hold it.
      const y = Math.min((Y(hi) + Y(lo)) / 2 + 4, lastLabel - 13);
      if (Y(lo) - Y(hi) >= 13 && y >= Y(hi) + 9 && y <= Y(lo) + 1) {
        s("text", { x: W - M.r - 6, y, "font-size": 11, fill: b.ink, "text-anchor": "end", class: "band-label" }, plot).textContent = b.label;
        lastLabel = y;
      }
    }
    const g = s("g", { "font-size": 11, fill: "#667085" }, svg);
    for (let y = ymin; y <= ymax + 1e-9; y += ystep) {
      s("line", { x1: M.l, x2: W - M.r, y1: Y(y), y2: Y(y), stroke: "#0001" }, g);
      s("text", { x: M.l - 6, y: Y(y) + 4, "text-anchor": "end", class: "ytick" }, g).textContent = +y.toFixed(2);
    }
    const tt = timeTicks(t0, t1, Math.max(3, Math.floor((W - M.l) / 90)));
    for (const t of tt.ticks) {
      const x = X(t);
      // Labels near an edge are anchored inside the chart, so the last date is never cut off.
      const anchor = x > W - 45 ? "end" : x < M.l + 30 ? "start" : "middle";
      s("line", { x1: x, x2: x, y1: H - M.b, y2: H - M.b + 4, stroke: "#98a2b3" }, g);
      s("text", { x: anchor === "end" ? Math.min(x, W - 2) : x, y: H - 8, "text-anchor": anchor, class: "xtick" }, g).textContent = fmtTime(t, tt.step, opts.tz);
    }
    if (opts.unit) s("text", { x: 4, y: 12, "font-size": 11, fill: "#667085" }, svg).textContent = opts.unit;
    // The zone of the time axis, always labelled (site local time), in the axis corner.
    s("text", { x: 4, y: H - 8, "font-size": 11, fill: "#667085", class: "tz" }, svg).textContent = opts.tzLabel || parts(t1, opts.tz).timeZoneName;
    if (opts.failLevel) {
      const y = Y(opts.failLevel);
      s("line", { x1: M.l, x2: W - M.r, y1: y, y2: y, stroke: "#b42318", "stroke-width": 1.5, "stroke-dasharray": "8 4", class: "fail-level" }, svg);
      s("text", { x: M.l + 6, y: y - 4, "font-size": 11, fill: "#b42318", class: "fail-label" }, svg).textContent = "failure level " + (+opts.failLevel.toFixed(2)) + " " + (opts.unit || "");
    }
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
      const x = Math.min(X(opts.now), W - M.r);
      s("line", { x1: x, x2: x, y1: M.t, y2: H - M.b, stroke: "#101828", "stroke-dasharray": "2 3" }, svg);
      // Above the plot, on the side with room: never clipped by the chart's edge.
      const right = x < W - 40;
      s("text", { x: right ? x + 3 : x - 3, y: M.t - 4, "font-size": 11, fill: "#101828", "text-anchor": right ? "start" : "end", class: "now-label" }, svg).textContent = "now";
    }
    hover(host, svg, opts.series[0], X, Y, opts.unit || "", W, H, opts.tz, opts.tzLabel);
  }

  function hover(host, svg, se, X, Y, unit, W, H, tz, tzLabel) {
    if (!se || !se.t.length) return;
    const tip = document.createElement("div"); tip.className = "tip"; host.appendChild(tip);
    const mark = s("circle", { r: 4, fill: se.color || "#0f5bd8", stroke: "#fff", "stroke-width": 2, visibility: "hidden" }, svg);
    svg.addEventListener("mousemove", (ev) => {
      const r = svg.getBoundingClientRect(), x = ((ev.clientX - r.left) / r.width) * W;
      let lo = 0, hi = se.t.length - 1;
      while (hi - lo > 1) { const m = (lo + hi) >> 1; if (X(se.t[m]) < x) lo = m; else hi = m; }
      const i = Math.abs(X(se.t[lo]) - x) < Math.abs(X(se.t[hi]) - x) ? lo : hi;
      mark.setAttribute("cx", X(se.t[i])); mark.setAttribute("cy", Y(se.y[i])); mark.setAttribute("visibility", "visible");
      tip.textContent = fmtFull(se.t[i], tz, tzLabel) + "  " + (+se.y[i].toFixed(3)) + " " + unit;
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
  return { draw, zoneBands, fmtFull };
})();
