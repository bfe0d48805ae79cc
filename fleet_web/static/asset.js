/* Asset page: load history + forecast from the JSON API and draw the charts. */
"use strict";
(function () {
  const host = document.getElementById("vib-chart");
  if (!host) return;
  let data = null;
  function render() {
    if (!data) return;
    const cone = data.cone || {};
    const zones = data.zones || {};
    const vel = data.vibration.vel_rms;
    // The scale reaches the next zone limit above the latest reading: the zone it is heading
    // for stays in view (a zone C bearing rising toward zone D shows where D begins).
    const last = vel.length ? vel[vel.length - 1] : 0;
    const next = [zones.A, zones.B, zones.C].filter((z) => z !== undefined && z > last)[0];
    const top = Math.max(...vel, ...(cone.p10 || []), next === undefined ? 0 : next * 1.05, 0);
    // The future shown is as long as the past shown: a P90 years away would squeeze the
    // measured history into a sliver. What lies beyond is said under the chart.
    const t0 = data.vibration.t.length ? data.vibration.t[0] : data.now - 7 * 86400;
    const tMax = data.now + Math.max(data.now - t0, 7 * 86400);
    const beyond = document.getElementById("cone-beyond");
    if (beyond) {
      const end = cone.t && cone.t.length ? cone.t[cone.t.length - 1] : null;
      beyond.textContent = end && end > tMax ? " · forecast continues to " + window.KzChart.fmtFull(end, data.tz, data.tz_label).slice(0, 10) + " (P90)" : "";
    }
    // The legend names only what is drawn: no cone or failure level without a wear forecast.
    const hasCone = !!(cone.t && cone.t.length);
    for (const [id, shown] of [["legend-cone", hasCone], ["legend-fail", !!cone.fail_level]]) {
      const item = document.getElementById(id);
      if (item) item.hidden = !shown;
    }
    window.KzChart.draw(host, {
      series: [{ t: data.vibration.t, y: data.vibration.vel_rms, color: "#0f5bd8", label: "vel RMS" }],
      bands: window.KzChart.zoneBands(zones, top * 1.05),
      cone: cone.t && cone.t.length ? { t: cone.t, lo: cone.p90, mid: cone.p50, hi: cone.p10 } : null,
      unit: "mm/s", yMin: 0, yMax: top, now: data.now, tz: data.tz, tzLabel: data.tz_label, failLevel: cone.fail_level || null,
      tMax,
    });
    const perDay = runningPerDay(data.runtime.t, data.runtime.runtime_h, data.tz);
    window.KzChart.draw(document.getElementById("run-chart"), {
      series: [{ t: perDay.t, y: perDay.y, color: "#2e9e5b" }], unit: "h/day", yMin: 0, tz: data.tz, tzLabel: data.tz_label,
    });
    const startsPerDay = runningPerDay(data.starts.t, data.starts.starts, data.tz, false);
    window.KzChart.draw(document.getElementById("starts-chart"), {
      series: [{ t: startsPerDay.t, y: startsPerDay.y, color: "#f0a020" }], unit: "starts/day", yMin: 0,
      tz: data.tz, tzLabel: data.tz_label, integer: true,
    });
    host.dataset.ready = "1";
  }
  // Running hours per site-local day from the cumulative counter (a counter that went back,
  // e.g. a replaced node, adds nothing rather than a negative day).
  function runningPerDay(t, cum, tz, perHourCap = true) {
    const days = new Map();
    for (let i = 1; i < t.length; i++) {
      const d = cum[i] - cum[i - 1];
      const key = window.KzChart.fmtFull(t[i], tz).slice(0, 10);
      if (!days.has(key)) days.set(key, { t: t[i], y: 0 });
      if (d > 0) days.get(key).y += perHourCap ? Math.min(d, (t[i] - t[i - 1]) / 3600) : d;
    }
    const out = { t: [], y: [] };
    for (const v of days.values()) { out.t.push(v.t); out.y.push(+v.y.toFixed(2)); }
    return out;
  }
  window.Kz.api(host.dataset.src).then((r) => { data = r.data; render(); })
    .catch((e) => { host.textContent = "Could not load the history (" + e.message + ")."; });
  let timer = null;
  window.addEventListener("resize", () => { clearTimeout(timer); timer = setTimeout(render, 150); });
})();
