// The run page's metric charts: each chart fetches its history from the REST API when it
// scrolls into view (downsampled on the server to about two points per pixel, keeping
// extremes), and again for the step window of a zoom. The x axis, smoothing and log scale
// are kept in the URL (?x=time&smooth=0.6&log=1), so a link shows the same charts.
"use strict";
(function () {
  const EAGER = 12;
  const HISTORY = (runId, key) => "/api/v1/runs/" + encodeURIComponent(runId) +
    "/metrics/history?key=" + encodeURIComponent(key);

  /** Points of the API ([key, value, step, timestamp] rows) as typed arrays. */
  function columns(rows) {
    const n = rows.length;
    const steps = new Float64Array(n), times = new Float64Array(n), values = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const r = rows[i];
      values[i] = typeof r[1] === "number" ? r[1] : Number(r[1]);
      steps[i] = r[2];
      times[i] = r[3];
    }
    return { steps, times, values };
  }

  async function fetchHistory(runId, key, maxPoints, window) {
    let url = HISTORY(runId, key) + "&max_points=" + maxPoints;
    if (window) url += "&min_step=" + Math.floor(window[0]) + "&max_step=" + Math.ceil(window[1]);
    const response = await fetch(url, { headers: { accept: "application/json" } });
    const body = await response.json();
    if (!response.ok) throw new Error((body.error && body.error.message) || response.statusText);
    return columns(body.result);
  }

  /** "12.5 s", "3 min 4 s", "2 h 5 min" for seconds since the first point. */
  function seconds(v) {
    const a = Math.abs(v), sign = v < 0 ? "-" : "";
    if (a < 60) return sign + HeronChart.formatNumber(a) + " s";
    if (a < 3600) return sign + Math.floor(a / 60) + " min" + (a % 60 >= 1 ? " " + Math.round(a % 60) + " s" : "");
    return sign + Math.floor(a / 3600) + " h" + (a % 3600 >= 60 ? " " + Math.round((a % 3600) / 60) + " min" : "");
  }

  /** The earliest timestamp of a history. */
  function firstTime(data) {
    let first = Infinity;
    for (let i = 0; i < data.times.length; i++) if (data.times[i] < first) first = data.times[i];
    return isFinite(first) ? first : 0;
  }

  /** A history as the chart's x and y arrays, sorted by x (time: seconds since t0). */
  function toXY(data, axis, t0) {
    if (axis === "step") return { xs: data.steps, ys: data.values };
    const n = data.times.length;
    let order = null;
    for (let i = 1; i < n; i++) {
      if (data.times[i] < data.times[i - 1]) {
        order = Array.from({ length: n }, (_, j) => j).sort((a, b) => data.times[a] - data.times[b]);
        break;
      }
    }
    const xs = new Float64Array(n), ys = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const j = order ? order[i] : i;
      xs[i] = (data.times[j] - t0) / 1000;
      ys[i] = data.values[j];
    }
    return { xs, ys };
  }

  class MetricChart {
    constructor(el, settings) {
      this.el = el;
      this.runId = el.dataset.runId;
      this.key = el.dataset.metricKey;
      this.settings = settings;
      this.full = null; // the history over all steps (thinned)
      this.zoomed = null; // the history of the zoomed step window
      this.t0 = 0; // the first timestamp: wall time is shown as seconds since then
    }

    maxPoints() { return Math.max(200, Math.ceil((this.el.clientWidth || 600) * 2 / 4) * 4); }

    async load() {
      try {
        this.full = await fetchHistory(this.runId, this.key, this.maxPoints());
        this.t0 = firstTime(this.full);
      } catch (e) {
        this.el.replaceChildren(Object.assign(document.createElement("p"), { className: "inline-error", textContent: "Could not load the history: " + e.message }));
        return;
      }
      this.chart = new HeronChart(this.el, { label: this.key, onZoom: (a, b) => this.zoom(a, b) });
      this.render();
    }

    /** Whether the server thinned the full history (a window may then show more). */
    thinned() { return this.full && this.full.steps.length >= this.maxPoints() / 2; }

    series() {
      const s = this.settings;
      const xy = toXY(this.zoomed || this.full, s.x, this.t0);
      if (!(s.smooth > 0)) return [{ name: this.key, xs: xy.xs, ys: xy.ys, index: 0 }];
      return [
        { name: this.key + " (raw)", xs: xy.xs, ys: xy.ys, index: 0, faded: true },
        { name: this.key, xs: xy.xs, ys: HeronChart.ema(xy.ys, s.smooth), raw: xy.ys, index: 0 },
      ];
    }

    render() {
      if (!this.chart) return;
      const time = this.settings.x === "time";
      if (this.axis !== this.settings.x) {
        // another x axis: a zoom of the old one means nothing on it
        this.axis = this.settings.x;
        this.zoomed = null;
        this.chart.resetZoom(true);
      }
      this.chart.setOptions({
        logY: this.settings.log,
        xLabel: time ? "wall time" : "step",
        xFormat: time ? seconds : HeronChart.formatNumber,
      });
      this.chart.setSeries(this.series());
    }

    async zoom(x0, x1) {
      if (x0 === null) {
        if (this.zoomed) { this.zoomed = null; this.render(); }
        return;
      }
      if (!this.thinned()) return; // every point is here already: the chart zooms on its own
      const steps = this.stepWindow(x0, x1);
      if (!steps) return;
      try {
        const data = await fetchHistory(this.runId, this.key, this.maxPoints(), steps);
        if (!this.chart.view) return; // reset meanwhile
        this.zoomed = data;
        this.chart.series = this.series();
        this.chart._bounds = null;
        this.chart.draw();
      } catch (e) {
        // an older server without step windows: the thinned history stays on show
      }
    }

    /** The step window [a, b] that covers x in [x0, x1] (x: steps, or seconds). */
    stepWindow(x0, x1) {
      if (this.settings.x === "step") return [x0, x1];
      // the loaded points are thinned: widen to their neighbours so the window is covered
      const times = this.full.times, steps = this.full.steps;
      let lo = Infinity, hi = -Infinity;
      for (let i = 0; i < times.length; i++) {
        const prev = i > 0 ? (times[i - 1] - this.t0) / 1000 : -Infinity;
        const next = i + 1 < times.length ? (times[i + 1] - this.t0) / 1000 : Infinity;
        if (next >= x0 && prev <= x1) { lo = Math.min(lo, steps[i]); hi = Math.max(hi, steps[i]); }
      }
      return isFinite(lo) ? [lo, hi] : null;
    }
  }

  function readSettings(form) {
    const data = new FormData(form);
    return {
      x: data.get("x") === "time" ? "time" : "step",
      smooth: Math.min(0.99, Math.max(0, Number(data.get("smooth")) || 0)),
      log: data.get("log") === "1",
    };
  }

  function keepInUrl(settings) {
    const url = new URL(window.location.href);
    const set = (k, v, dflt) => (v === dflt ? url.searchParams.delete(k) : url.searchParams.set(k, v));
    set("x", settings.x, "step");
    set("smooth", String(settings.smooth), "0");
    set("log", settings.log ? "1" : "0", "0");
    history.replaceState(null, "", url.pathname + (url.search ? url.search : "") + url.hash);
  }

  document.addEventListener("DOMContentLoaded", function () {
    const form = document.querySelector(".chart-controls");
    const boxes = document.querySelectorAll(".chart[data-metric-key]");
    if (!form || !boxes.length) return;
    const settings = readSettings(form);
    const output = form.querySelector("output");
    const charts = Array.from(boxes, (el) => new MetricChart(el, settings));
    const update = () => {
      Object.assign(settings, readSettings(form));
      if (output) output.textContent = String(settings.smooth);
      keepInUrl(settings);
      for (const c of charts) c.render();
    };
    form.addEventListener("input", update);
    form.addEventListener("change", update);
    form.addEventListener("submit", (ev) => { ev.preventDefault(); update(); });
    const start = (chart) => { if (!chart.started) { chart.started = true; chart.load(); } };
    if ("IntersectionObserver" in window) {
      const seen = new IntersectionObserver((entries) => {
        for (const entry of entries) {
          if (!entry.isIntersecting) continue;
          seen.unobserve(entry.target);
          start(charts.find((c) => c.el === entry.target));
        }
      }, { rootMargin: "300px" });
      for (const c of charts) seen.observe(c.el);
      // the first charts load anyway once the page is idle (a scrolled or printed page
      // shows them drawn); the rest when they come near the view
      const idle = window.requestIdleCallback || ((fn) => setTimeout(fn, 200));
      idle(() => charts.slice(0, EAGER).forEach(start));
    } else charts.forEach(start);
  });
})();
