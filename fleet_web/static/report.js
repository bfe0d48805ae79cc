"use strict";
(function () {
  const b = document.getElementById("print");
  if (b) b.addEventListener("click", () => window.print());
})();
