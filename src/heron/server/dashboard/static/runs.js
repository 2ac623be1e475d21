// The experiments list and the runs table: columns remembered per experiment, child runs
// expanded under their parent, row selection for Compare, and live refresh of running runs
// (POST /api/v1/runs/search for the shown ids, cells updated in place). The pages work
// without it.
"use strict";
(function () {
  const POLL_MS = 3000;
  const IN_LIST = 500; // ids per search (the filter grammar takes up to 1000 IN values)
  const CELL_CHARS = 120;

  function savedColumns(key) {
    try {
      const value = JSON.parse(localStorage.getItem(key));
      return Array.isArray(value) ? value.filter((v) => typeof v === "string") : null;
    } catch (e) {
      return null;
    }
  }

  function withColumns(href, columns) {
    const url = new URL(href, location.href);
    url.searchParams.delete("col");
    url.searchParams.delete("page");
    if (!columns.length) url.searchParams.append("col", "");
    for (const c of columns) url.searchParams.append("col", c);
    return url.pathname + url.search;
  }

  // --- formatting, as heron/server/dashboard/format.py does it ----------------------------
  function number(v) {
    if (v === null || v === undefined) return "NaN"; // JSON has no NaN: a held key's null
    if (typeof v !== "number") return String(v);
    if (Number.isNaN(v)) return "NaN";
    if (!Number.isFinite(v)) return v > 0 ? "∞" : "-∞";
    if (v === 0) return "0";
    const [mantissa, e] = v.toExponential(3).split("e");
    const exp = Number(e);
    if (exp < -4 || exp >= 4) {
      const sign = exp < 0 ? "-" : "+";
      return mantissa.replace(/\.?0+$/, "") + "e" + sign + String(Math.abs(exp)).padStart(2, "0");
    }
    return v.toFixed(Math.max(0, 3 - exp)).replace(/(\.\d*?)0+$/, "$1").replace(/\.$/, "");
  }

  function duration(start, end) {
    if (!start || start <= 0) return "";
    if (!end || end <= 0) end = Date.now();
    const seconds = Math.max(0, (end - start) / 1000);
    if (seconds < 60) return (seconds < 10 ? seconds.toFixed(1) : seconds.toFixed(0)) + " s";
    let minutes = Math.floor(seconds / 60);
    const secs = Math.floor(seconds) % 60;
    if (minutes < 60) return `${minutes} min ${secs} s`;
    let hours = Math.floor(minutes / 60);
    minutes %= 60;
    if (hours < 48) return `${hours} h ${minutes} min`;
    return `${Math.floor(hours / 24)} d ${hours % 24} h`;
  }

  function clip(text) {
    return text.length <= CELL_CHARS ? text : text.slice(0, CELL_CHARS - 1) + "…";
  }

  // --- columns remembered per experiment --------------------------------------------------
  function columnMemory() {
    for (const form of document.querySelectorAll("form[data-columns-form]")) {
      form.addEventListener("submit", function () {
        const columns = [];
        for (const input of form.querySelectorAll('input[name="col"]')) {
          if (input.value && (input.type !== "checkbox" || input.checked)) columns.push(input.value);
        }
        localStorage.setItem(form.dataset.storageKey, JSON.stringify(columns));
      });
    }
    for (const link of document.querySelectorAll("a[data-reset-columns]")) {
      link.addEventListener("click", () => localStorage.removeItem(link.dataset.resetColumns));
    }
    for (const link of document.querySelectorAll("a[data-experiment-link]")) {
      const columns = savedColumns(link.dataset.experimentLink);
      if (columns) link.href = withColumns(link.href, columns);
    }
    // a runs table opened without chosen columns shows the ones chosen here last time
    const form = document.querySelector("details.chooser form[data-columns-form]");
    if (form && !new URL(location.href).searchParams.has("col")) {
      const columns = savedColumns(form.dataset.storageKey);
      if (columns) location.replace(withColumns(location.href, columns));
    }
  }

  // --- child runs under their parent ------------------------------------------------------
  function nesting() {
    const toggles = [...document.querySelectorAll("button[data-toggle]")];
    const show = (button, open) => {
      button.setAttribute("aria-expanded", String(open));
      button.textContent = (open ? "▾ " : "▸ ") + button.textContent.slice(2);
      for (const row of document.querySelectorAll("tr[data-parent]")) {
        if (row.dataset.parent === button.dataset.toggle) row.hidden = !open;
      }
    };
    for (const button of toggles) {
      button.addEventListener("click", () =>
        show(button, button.getAttribute("aria-expanded") !== "true")
      );
    }
    const all = document.querySelector("button[data-expand-all]");
    if (all) {
      all.addEventListener("click", function () {
        const open = all.getAttribute("aria-pressed") !== "true";
        all.setAttribute("aria-pressed", String(open));
        all.textContent = open ? "Collapse all" : "Expand all";
        for (const button of toggles) show(button, open);
      });
    }
  }

  // --- selection for Compare --------------------------------------------------------------
  function selection() {
    const form = document.getElementById("compare-form");
    if (!form) return;
    const button = form.querySelector("[data-compare]");
    const note = form.querySelector("[data-selected-count]");
    const boxes = () => document.querySelectorAll('input[name="runs"][form="compare-form"]');
    const update = function () {
      const n = [...boxes()].filter((b) => b.checked).length;
      button.disabled = n < 2 || n > 50;
      note.textContent =
        n === 0 ? "Select 2 to 50 runs to compare." : n > 50 ? `${n} selected: at most 50.` : `${n} selected.`;
    };
    for (const box of boxes()) box.addEventListener("change", update);
    update();
  }

  // --- live refresh of running runs -------------------------------------------------------
  function live() {
    const table = document.querySelector("table[data-runs-table]");
    if (!table || table.dataset.live !== "1") return;
    const note = document.querySelector("[data-live-status]");
    const experiment = table.dataset.experimentId;
    let timer = null;

    const activeRows = () =>
      [...table.querySelectorAll("tr[data-run-id]")].filter(
        (r) => r.dataset.status === "running" || r.dataset.status === "pending"
      );

    function update(row, run) {
      row.dataset.status = run.status;
      row.dataset.end = run.end_time == null ? "" : String(run.end_time);
      for (const cell of row.querySelectorAll("td[data-col]")) {
        const col = cell.dataset.col;
        if (col === "status") {
          const badge = document.createElement("span");
          badge.className = "badge status-" + run.status;
          badge.textContent = run.status;
          cell.replaceChildren(badge);
        } else if (col === "duration") {
          cell.textContent = duration(run.start_time, run.end_time);
        } else {
          const dot = col.indexOf(".");
          const prefix = col.slice(0, dot);
          const key = col.slice(dot + 1);
          const values = run[prefix];
          if (!values || !Object.prototype.hasOwnProperty.call(values, key)) continue;
          const text = prefix === "metrics" ? number(values[key]) : clip(String(values[key]));
          if (cell.textContent !== text) cell.textContent = text;
        }
      }
    }

    async function poll() {
      const rows = activeRows();
      if (!rows.length) {
        note.textContent = "Every shown run has finished.";
        return;
      }
      note.textContent = `Live: ${rows.length} running run${rows.length === 1 ? "" : "s"}, refreshed every ${POLL_MS / 1000} s.`;
      const byId = new Map(rows.map((r) => [r.dataset.runId, r]));
      const ids = [...byId.keys()];
      try {
        for (let i = 0; i < ids.length; i += IN_LIST) {
          const part = ids.slice(i, i + IN_LIST);
          const filter = "attributes.run_id IN (" + part.map((id) => "'" + id.replace(/'/g, "''") + "'").join(", ") + ")";
          const response = await fetch("/api/v1/runs/search", {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({
              experiment_ids: [experiment],
              filter_string: filter,
              max_results: part.length,
              view: "all",
            }),
          });
          if (!response.ok) throw new Error("HTTP " + response.status);
          const body = await response.json();
          for (const run of body.result.items) {
            const row = byId.get(run.id);
            if (row) update(row, run);
          }
        }
      } catch (e) {
        note.textContent = `Live refresh paused (${e.message}); retrying.`;
      }
      if (!activeRows().length) {
        note.textContent = "Every shown run has finished.";
        return;
      }
      timer = setTimeout(poll, POLL_MS);
    }

    // durations of running runs tick between polls
    setInterval(function () {
      for (const row of activeRows()) {
        const cell = row.querySelector('td[data-col="duration"]');
        if (cell) cell.textContent = duration(Number(row.dataset.start), null);
      }
    }, 1000);
    timer = setTimeout(poll, POLL_MS);
    note.textContent = "Live: refreshing running runs.";
    window.addEventListener("pagehide", () => clearTimeout(timer));
  }

  function autosubmit() {
    for (const select of document.querySelectorAll("select[data-autosubmit]")) {
      select.addEventListener("change", () => select.form.requestSubmit());
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    columnMemory();
    nesting();
    selection();
    autosubmit();
    live();
  });
})();
