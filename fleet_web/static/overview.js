/* Fleet overview: live refresh of the table and tiles from the JSON API. */
"use strict";
(function () {
  const table = document.getElementById("assets");
  if (!table) return;
  const tbody = document.getElementById("asset-rows");
  const live = document.getElementById("live");
  const every = Math.max(2, Number(table.dataset.refresh) || 5) * 1000;
  const { el, hours, when, localDate, api } = window.Kz;
  // site -> [IANA zone, its abbreviation now] (the server's names: JST, CET, not GMT+9)
  const zones = JSON.parse(table.dataset.zones || "{}");
  const tzOf = (site) => (zones[site] || ["UTC", "UTC"])[0];
  const abbrOf = (site) => (zones[site] || ["UTC", "UTC"])[1];
  const arrows = { rising: "↗", falling: "↘", stable: "→" };

  // Same as the service_cell macro: the planned window, or an unplanned stop and its date.
  function serviceCell(r) {
    const why = { zone_C: "zone C", zone_D: "zone D" }[r.plan_reason];
    const out = [];
    if (r.window_start) out.push(localDate(r.window_start, tzOf(r.site)));
    else if (r.plan === "unplanned_stop_needed")
      out.push(el("span", { class: "tag warn", text: "unplanned stop by " + (r.service_due || "–") }));
    else out.push("–");
    if (why && (r.window_start || r.plan === "unplanned_stop_needed"))
      out.push(el("small", { class: "sub", text: why }));
    return out;
  }

  // Same as the life / life_sub macros: hours when the outlook dates them, else its words
  // ("beyond 5 years"), and the risk (P10) date.
  function life(r) {
    if (r.rul_p10_h !== null && r.rul_p90_h !== null) return hours(r.rul_p10_h) + " – " + hours(r.rul_p90_h);
    if (r.rul_p10_h !== null) return "P10 " + hours(r.rul_p10_h);
    return r.life_text || "–";
  }
  function lifeSub(r) {
    if (r.rul_p10_date) return "risk from " + r.rul_p10_date;
    return r.life_text && r.rul_p10_h !== null ? r.life_text : "";
  }

  const STOPPED_TITLE = "The newest reading was taken while the machine stood still; the zone is judged on the running level";

  function row(r) {
    const tr = el("tr", { class: "h" + r.health, "data-id": r.id });
    const link = el("a", { href: "/assets/" + encodeURIComponent(r.id), text: r.name });
    tr.append(
      el("td", {}, link, el("small", { class: "sub", text: r.id + " · " + (r.component || "") })),
      el("td", { class: "hide-s", text: r.site }),
      el("td", { class: "hide-s", text: r.machine }),
      el("td", {}, el("span", { class: "zone z" + r.health,
        text: r.health === "sensor_fault" ? "sensor fault" : r.health }), " ",
        el("span", { class: "trend t-" + r.trend, text: arrows[r.trend] || "·" })),
      el("td", { class: "num" }, r.vel_rms === null ? "–" : r.vel_rms.toFixed(2),
        // A stopped machine's reading beside its running zone would read as a contradiction.
        ...(r.readings && r.readings.running === false ? [el("small", { class: "sub stopped",
          title: STOPPED_TITLE, text: "stopped" })] : [])),
      el("td", {}, el("span", { class: "rul", text: life(r) }),
        el("small", { class: "sub", text: lifeSub(r) })),
      el("td", { class: "hide-s" }, ...serviceCell(r)),
      el("td", { class: "hide-m" }, el("time", { datetime: r.last_seen, text: when(r.last_seen, tzOf(r.site), abbrOf(r.site)) })),
      el("td", { class: "hide-m" }, el("span", { class: "dot n-" + r.node_health }), r.node_health),
    );
    return tr;
  }

  // Same as the compact macro: a KPI never outgrows its tile.
  function compact(x) {
    if (x === null || x === undefined) return "–";
    if (x >= 1e6) return (x / 1e6).toFixed(1) + "M";
    if (x >= 1e4) return (x / 1e3).toFixed(1) + "k";
    return x >= 100 ? Math.round(x).toLocaleString("en") : String(+x.toFixed(1));
  }

  function setTiles(s) {
    document.querySelectorAll("#tiles [data-k]").forEach((n) => {
      const v = n.dataset.k.split(".").reduce((o, k) => (o ? o[k] : undefined), s);
      if (v !== undefined) n.textContent = n.dataset.fmt === "compact" ? compact(v) : v;
    });
    sizeZones();
  }

  function sizeZones() {
    const segs = document.querySelectorAll(".tile.zones .seg");
    let total = 0;
    segs.forEach((g) => { total += Number(g.querySelector("b").textContent) || 0; });
    segs.forEach((g) => {
      const n = Number(g.querySelector("b").textContent) || 0;
      g.style.flexGrow = String(n); g.style.flexBasis = "0";
      g.style.display = n ? "flex" : "none";
      if (total) g.title = "Zone " + g.dataset.zone + ": " + n;
    });
  }

  async function refresh() {
    if (!live.checked || document.hidden) return;
    const q = new URLSearchParams(location.search);
    q.set("offset", table.dataset.offset); q.set("limit", table.dataset.limit);
    try {
      const [rows, sum] = await Promise.all([api(table.dataset.src + "?" + q), api("/api/summary")]);
      tbody.replaceChildren(...rows.data.map(row));
      if (!rows.data.length) tbody.append(el("tr", {}, el("td", { colspan: 9, class: "empty", text: "No assets match." })));
      setTiles(sum.data);
      document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString();
      table.dataset.refreshed = String(Date.now());
    } catch (e) {
      document.getElementById("updated").textContent = "refresh failed (" + e.message + ")";
    }
  }
  sizeZones();
  setInterval(refresh, every);
  document.addEventListener("visibilitychange", refresh);
})();
