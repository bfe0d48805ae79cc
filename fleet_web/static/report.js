"use strict";
(function () {
  const b = document.getElementById("print");
  if (b) b.addEventListener("click", () => window.print());
  // The site picker goes to that site's report (a path, not a query parameter).
  const sel = document.getElementById("site-select");
  const form = document.getElementById("report-site");
  if (sel && form) {
    const go = (ev) => {
      if (ev) ev.preventDefault();
      const days = form.querySelector("input[name=days]").value;
      location.href = sel.value + "?days=" + encodeURIComponent(days);
    };
    sel.addEventListener("change", go);
    form.addEventListener("submit", go);
  }
})();
