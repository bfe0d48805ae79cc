"use strict";
(function () {
  const b = document.getElementById("print");
  if (b) b.addEventListener("click", () => window.print());
  // The scope picker goes to that customer's or site's report, keeping the period and shifts.
  const sel = document.getElementById("scope-select");
  const form = document.getElementById("consult-form");
  if (sel && form) {
    const go = (ev) => {
      if (ev) ev.preventDefault();
      const url = new URL(sel.value, location.href);
      for (const name of ["days", "end", "shifts"]) {
        const input = form.querySelector("input[name=" + name + "]");
        if (input && input.value) url.searchParams.set(name, input.value);
      }
      location.href = url.pathname + url.search;
    };
    sel.addEventListener("change", go);
    form.addEventListener("submit", go);
  }
})();
