// Pipeline run page: while the run is active, refresh its content every few seconds (the
// server renders it; no full reload), and light up a DAG node's edges when it has focus.
"use strict";
(function () {
  const REFRESH_MS = 3000;

  function lightEdges(root) {
    for (const link of root.querySelectorAll("svg.dag a.node-link, svg.lineage a.node-link")) {
      const group = link.querySelector("[data-node]");
      if (!group) continue;
      const id = group.dataset.node;
      const svg = link.closest("svg");
      const mark = function (on) {
        for (const edge of svg.querySelectorAll("path.edge")) {
          const touches = edge.dataset.source === id || edge.dataset.target === id;
          edge.classList.toggle("lit", on && touches);
        }
      };
      link.addEventListener("focus", function () { mark(true); });
      link.addEventListener("mouseenter", function () { mark(true); });
      link.addEventListener("blur", function () { mark(false); });
      link.addEventListener("mouseleave", function () { mark(false); });
    }
  }

  async function refresh(container) {
    if (document.hidden || container.dataset.live !== "true") return;
    try {
      const response = await fetch(window.location.href, { headers: { accept: "text/html" } });
      if (!response.ok) return;
      const doc = new DOMParser().parseFromString(await response.text(), "text/html");
      const fresh = doc.getElementById("pipeline-run");
      if (!fresh) return;
      const focused = document.activeElement && document.activeElement.getAttribute("href");
      container.replaceChildren(...fresh.childNodes);
      container.dataset.live = fresh.dataset.live;
      lightEdges(container);
      if (focused) {
        const again = container.querySelector(`a[href="${CSS.escape(focused)}"]`);
        if (again) again.focus();
      }
    } catch (error) {
      // the server is away for a moment: try again at the next tick
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    lightEdges(document);
    const container = document.getElementById("pipeline-run");
    if (!container) return;
    const timer = window.setInterval(function () {
      if (container.dataset.live !== "true") {
        window.clearInterval(timer);
        return;
      }
      refresh(container);
    }, REFRESH_MS);
  });
})();
