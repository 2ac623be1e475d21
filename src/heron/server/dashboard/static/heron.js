// Heron's dashboard: small progressive behaviour. Pages work without it; it adds the theme
// switch and the project switcher here, and each page's own script (static/pages/*.js) adds charts and live refresh.
"use strict";
(function () {
  const root = document.documentElement;
  const saved = localStorage.getItem("heron-theme");
  if (saved === "light" || saved === "dark") root.dataset.theme = saved;
  document.addEventListener("DOMContentLoaded", function () {
    for (const button of document.querySelectorAll("[data-theme-toggle]")) {
      button.addEventListener("click", function () {
        const dark = root.dataset.theme
          ? root.dataset.theme === "dark"
          : window.matchMedia("(prefers-color-scheme: dark)").matches;
        root.dataset.theme = dark ? "light" : "dark";
        localStorage.setItem("heron-theme", root.dataset.theme);
      });
    }
    // the header's project switcher opens the chosen project as soon as it is picked
    for (const form of document.querySelectorAll("form[data-project-switch]")) {
      const select = form.querySelector("select");
      const button = form.querySelector("[data-switch-button]");
      if (button) button.hidden = true;
      if (select) select.addEventListener("change", () => form.requestSubmit());
    }
  });
})();
