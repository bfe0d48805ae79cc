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
    const top = Math.max(...data.vibration.vel_rms, ...(cone.p10 || []), 0);
    window.KzChart.draw(host, {
      series: [{ t: data.vibration.t, y: data.vibration.vel_rms, color: "#0f5bd8", label: "vel RMS" }],
      bands: window.KzChart.zoneBands(zones, top * 1.05),
      cone: cone.t && cone.t.length ? { t: cone.t, lo: cone.p90, mid: cone.p50, hi: cone.p10 } : null,
      unit: "mm/s", yMin: 0, now: data.now, tz: data.tz, tzLabel: data.tz_label, failLevel: cone.fail_level || null,
    });
    window.KzChart.draw(document.getElementById("run-chart"), {
      series: [{ t: data.runtime.t, y: data.runtime.runtime_h, color: "#2e9e5b" }], unit: "h", tz: data.tz, tzLabel: data.tz_label,
    });
    window.KzChart.draw(document.getElementById("starts-chart"), {
      series: [{ t: data.starts.t, y: data.starts.starts, color: "#f0a020" }], unit: "starts",
      tz: data.tz, tzLabel: data.tz_label, integer: true,
    });
    host.dataset.ready = "1";
  }
  window.Kz.api(host.dataset.src).then((r) => { data = r.data; render(); })
    .catch((e) => { host.textContent = "Could not load the history (" + e.message + ")."; });
  let timer = null;
  window.addEventListener("resize", () => { clearTimeout(timer); timer = setTimeout(render, 150); });
})();
