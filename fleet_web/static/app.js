/* Shared helpers for the Kizashi fleet page (no dependencies). */
"use strict";
window.Kz = (function () {
  const csrf = () => (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  async function api(url, opts) {
    opts = Object.assign({ headers: {}, credentials: "same-origin" }, opts || {});
    opts.headers = Object.assign({ Accept: "application/json" }, opts.headers);
    if (opts.body && typeof opts.body !== "string") {
      opts.body = JSON.stringify(opts.body);
      opts.headers["Content-Type"] = "application/json";
    }
    if (opts.method && opts.method !== "GET") opts.headers["X-CSRF-Token"] = csrf();
    const r = await fetch(url, opts);
    if (r.status === 401) { location.href = "/login?next=" + encodeURIComponent(location.pathname + location.search); }
    if (!r.ok) throw new Error(r.status + " " + r.statusText);
    return { data: await r.json(), headers: r.headers };
  }
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "text") e.textContent = v; else e.setAttribute(k, v);
    }
    for (const k of kids) if (k !== null && k !== undefined) e.append(k instanceof Node ? k : String(k));
    return e;
  }
  function hours(h) {
    if (h === null || h === undefined) return "–";
    return h >= 1000 ? (h / 1000).toFixed(1) + "k h" : Math.round(h) + " h";
  }
  // An instant as the site's wall clock with its zone: "2026-12-05 08:00 JST".
  const fmts = {};
  function when(iso, tz, label) {
    if (!iso) return "–";
    const key = tz || "UTC";
    const f = fmts[key] || (fmts[key] = new Intl.DateTimeFormat("en-CA", {
      timeZone: key, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit",
      minute: "2-digit", hourCycle: "h23", timeZoneName: "short" }));
    const p = {};
    for (const x of f.formatToParts(new Date(iso))) p[x.type] = x.value;
    return p.year + "-" + p.month + "-" + p.day + " " + p.hour + ":" + p.minute + " " + (label || p.timeZoneName);
  }
  function localDate(iso, tz) { return iso ? when(iso, tz).slice(0, 10) : "–"; }
  return { api, el, hours, when, localDate, csrf };
})();
