// The compare page: the chosen metric's curves overlaid (histories fetched from the REST API,
// downsampled on the server, six at a time), the scatter of a param against the metric, and
// the choosers that reload the page with their values in the URL.
"use strict";
(function () {
  async function history(runId, key, maxPoints) {
    const url = "/api/v1/runs/" + encodeURIComponent(runId) + "/metrics/history?key=" +
      encodeURIComponent(key) + "&max_points=" + maxPoints;
    const response = await fetch(url, { headers: { accept: "application/json" } });
    const body = await response.json();
    if (!response.ok) throw new Error((body.error && body.error.message) || response.statusText);
    const rows = body.result, n = rows.length;
    const xs = new Float64Array(n), ys = new Float64Array(n);
    for (let i = 0; i < n; i++) { xs[i] = rows[i][2]; ys[i] = Number(rows[i][1]); }
    return { xs, ys };
  }

  /** Run fn over items with at most `limit` at a time. */
  async function pool(items, limit, fn) {
    const out = new Array(items.length);
    let next = 0;
    const worker = async () => {
      while (next < items.length) { const i = next++; out[i] = await fn(items[i], i); }
    };
    await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
    return out;
  }

  async function curves(el, data) {
    const maxPoints = Math.max(200, Math.ceil((el.clientWidth || 800) / 2) * 4);
    const withMetric = data.runs.filter((r) => r.metric !== null && r.metric !== undefined);
    const loaded = await pool(withMetric, 6, async (run) => {
      try { return Object.assign({ name: run.name, index: run.index }, await history(run.id, data.metric, maxPoints)); }
      catch (e) { return null; }
    });
    const chart = new HeronChart(el, { label: data.metric, xLabel: "step", height: 300 });
    chart.setSeries(loaded.filter(Boolean));
    const toggle = document.querySelector("[data-log-toggle]");
    if (toggle) toggle.addEventListener("change", () => chart.setLog(toggle.checked));
  }

  function scatter(el, data) {
    const runs = data.runs.filter((r) => r.param !== null && r.metric !== null && r.metric !== undefined);
    const numeric = runs.every((r) => r.param !== "" && isFinite(Number(r.param)));
    let categories = null;
    if (!numeric) categories = Array.from(new Set(runs.map((r) => String(r.param)))).sort();
    const series = runs.map((r) => ({
      name: r.name,
      index: r.index,
      xs: Float64Array.of(numeric ? Number(r.param) : categories.indexOf(String(r.param))),
      ys: Float64Array.of(Number(r.metric)),
    }));
    const chart = new HeronChart(el, {
      mode: "scatter", label: data.metric + " against " + data.param, xLabel: data.param,
      xCategories: categories, height: 300,
    });
    chart.setSeries(series);
    if (categories) chart.setOptions({}); // categorical ticks at each value
  }

  document.addEventListener("DOMContentLoaded", function () {
    for (const form of document.querySelectorAll("form[data-autosubmit]")) {
      form.addEventListener("change", () => form.requestSubmit());
    }
    const source = document.getElementById("compare-data");
    if (!source) return;
    const data = JSON.parse(source.textContent);
    const curvesEl = document.querySelector("[data-compare-curves]");
    if (curvesEl && data.metric) curves(curvesEl, data);
    const scatterEl = document.querySelector("[data-compare-scatter]");
    if (scatterEl && data.metric && data.param) scatter(scatterEl, data);
  });
})();
