// Heron's charts: a small canvas line and scatter chart, written for the dashboard.
// Several series, axes with nice ticks, a log scale, drag to zoom (double-click or Escape
// resets), arrow keys to pan, a tooltip of the values under the pointer, and the colours of
// the page's theme (CSS variables --fg, --muted, --line, --bg and --series-0 … --series-9).
// A series longer than the plot is wide is thinned per pixel column keeping its extremes,
// so a zoomed-out view of a long history shows every spike.
"use strict";
(function () {
  const FALLBACK = ["#1d5fd1", "#d1495b", "#2a9d8f", "#e9a03b", "#7b5ea7", "#3d8b37",
    "#c2571a", "#0f7c99", "#b83280", "#5c6b7a"];
  const MARGIN = { left: 60, right: 14, top: 10, bottom: 30 };

  function cssVar(name, fallback) {
    const value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return value || fallback;
  }

  /** The colour of series number i in the current theme. */
  function seriesColor(i) {
    const n = FALLBACK.length;
    return cssVar("--series-" + (i % n), FALLBACK[i % n]);
  }

  /** About n round tick values covering [lo, hi]. */
  function niceTicks(lo, hi, n) {
    if (!isFinite(lo) || !isFinite(hi)) return [];
    if (hi === lo) return [lo];
    const raw = (hi - lo) / Math.max(1, n);
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const norm = raw / mag;
    const step = (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
    const ticks = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) {
      ticks.push(Math.abs(v) < step * 1e-9 ? 0 : v);
      if (ticks.length > 50) break;
    }
    return ticks;
  }

  /** Ticks of a log10 axis whose bounds are given as exponents. */
  function logTicks(lo, hi, n) {
    const a = Math.floor(lo), b = Math.ceil(hi);
    if (b - a >= 2) {
      const every = Math.max(1, Math.ceil((b - a) / n));
      const ticks = [];
      for (let e = a; e <= b; e += every) if (e >= lo - 1e-9 && e <= hi + 1e-9) ticks.push(e);
      if (ticks.length >= 2) return ticks;
    }
    return niceTicks(Math.pow(10, lo), Math.pow(10, hi), n).filter((v) => v > 0).map(Math.log10);
  }

  /** A number, short: 4 significant digits, exponents for the very large or small. */
  function formatNumber(v) {
    if (v === null || v === undefined || Number.isNaN(v)) return "NaN";
    if (!isFinite(v)) return v > 0 ? "∞" : "-∞";
    const a = Math.abs(v);
    if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(2).replace("e+", "e");
    return String(Number(v.toPrecision(4)));
  }

  /** Exponential moving average with TensorBoard's debiasing (weight in [0, 1)). */
  function ema(ys, weight) {
    const out = new Float64Array(ys.length);
    if (!(weight > 0)) { out.set(ys); return out; }
    let last = 0, count = 0;
    for (let i = 0; i < ys.length; i++) {
      const y = ys[i];
      if (!isFinite(y)) { out[i] = y; continue; }
      last = last * weight + (1 - weight) * y;
      count++;
      out[i] = last / (1 - Math.pow(weight, count));
    }
    return out;
  }

  /** The first index i with xs[i] >= x (xs ascending). */
  function lowerBound(xs, x) {
    let lo = 0, hi = xs.length;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (xs[mid] < x) lo = mid + 1; else hi = mid; }
    return lo;
  }

  /** The first index i with xs[i] > x (xs ascending). */
  function upperBound(xs, x) {
    let lo = 0, hi = xs.length;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (xs[mid] <= x) lo = mid + 1; else hi = mid; }
    return lo;
  }

  /** The points of (xs, ys) within [x0, x1] (xs ascending), at most ~4 per bucket of
   * `buckets`: first, last, minimum and maximum of each, so extremes survive. */
  function downsample(xs, ys, x0, x1, buckets) {
    const start = Math.max(0, lowerBound(xs, x0) - 1);
    const end = Math.min(xs.length, upperBound(xs, x1) + 1);
    const n = end - start;
    if (n <= buckets * 4) return { xs: xs.slice(start, end), ys: ys.slice(start, end) };
    const ox = [], oy = [];
    for (let b = 0; b < buckets; b++) {
      const s = start + Math.floor((b * n) / buckets), e = start + Math.floor(((b + 1) * n) / buckets);
      if (s >= e) continue;
      let lo = -1, hi = -1;
      for (let i = s; i < e; i++) {
        const y = ys[i];
        if (Number.isNaN(y)) continue;
        if (lo < 0 || y < ys[lo]) lo = i;
        if (hi < 0 || y > ys[hi]) hi = i;
      }
      const picked = [s, e - 1];
      if (lo >= 0) picked.push(lo);
      if (hi >= 0) picked.push(hi);
      picked.sort((p, q) => p - q);
      let prev = -1;
      for (const i of picked) if (i !== prev) { ox.push(xs[i]); oy.push(ys[i]); prev = i; }
    }
    return { xs: Float64Array.from(ox), ys: Float64Array.from(oy) };
  }

  class HeronChart {
    /**
     * el: the container; options: mode ("line" | "scatter"), logY, height, xLabel, yLabel,
     * xFormat(v) for x tick labels, xCategories (labels of integer x positions),
     * onZoom(x0, x1) (called after a zoom or reset; null bounds mean the full range).
     */
    constructor(el, options) {
      this.el = el;
      this.o = Object.assign({ mode: "line", logY: false, height: 240, xFormat: formatNumber }, options || {});
      this.series = [];
      this.view = null; // {x0, x1, y0, y1} when zoomed
      this.hover = null;
      this.drag = null;
      el.classList.add("hchart");
      this.canvas = document.createElement("canvas");
      this.canvas.tabIndex = 0;
      this.canvas.setAttribute("role", "img");
      this.tip = document.createElement("div");
      this.tip.className = "hchart-tip";
      this.tip.hidden = true;
      el.replaceChildren(this.canvas, this.tip);
      this._bind();
    }

    setSeries(series) { this.series = series; this._bounds = null; this.draw(); }
    setLog(on) { this.o.logY = !!on; this._bounds = null; this.draw(); }
    setOptions(options) { Object.assign(this.o, options); this._bounds = null; this.draw(); }
    resetZoom(silent) {
      const was = this.view;
      this.view = null;
      this.draw();
      if (was && !silent && this.o.onZoom) this.o.onZoom(null, null);
    }

    _ty(y) { return this.o.logY ? (y > 0 ? Math.log10(y) : NaN) : y; }

    _fullBounds() {
      if (this._bounds) return this._bounds;
      let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
      for (const s of this.series) {
        for (let i = 0; i < s.xs.length; i++) {
          const x = s.xs[i], y = this._ty(s.ys[i]);
          if (!isFinite(x) || !isFinite(y)) continue;
          if (x < x0) x0 = x; if (x > x1) x1 = x;
          if (y < y0) y0 = y; if (y > y1) y1 = y;
        }
      }
      this._bounds = { x0, x1, y0, y1 };
      return this._bounds;
    }

    _yRange(x0, x1) {
      // the y range of what is visible in [x0, x1]
      let y0 = Infinity, y1 = -Infinity;
      for (const s of this.series) {
        const line = this.o.mode === "line";
        const from = line ? Math.max(0, lowerBound(s.xs, x0) - 1) : 0;
        const to = line ? Math.min(s.xs.length, upperBound(s.xs, x1) + 1) : s.xs.length;
        for (let i = from; i < to; i++) {
          const x = s.xs[i], y = this._ty(s.ys[i]);
          if (!isFinite(y) || (!line && (x < x0 || x > x1))) continue;
          if (y < y0) y0 = y; if (y > y1) y1 = y;
        }
      }
      return [y0, y1];
    }

    _layout() {
      const width = Math.max(160, this.el.clientWidth || 400);
      const height = this.o.height;
      const dpr = window.devicePixelRatio || 1;
      if (this.canvas.width !== Math.round(width * dpr) || this.canvas.height !== Math.round(height * dpr)) {
        this.canvas.width = Math.round(width * dpr);
        this.canvas.height = Math.round(height * dpr);
        this.canvas.style.width = width + "px";
        this.canvas.style.height = height + "px";
      }
      const full = this._fullBounds();
      let x0, x1, y0, y1;
      if (this.view) ({ x0, x1 } = this.view); else { x0 = full.x0; x1 = full.x1; }
      if (this.view && this.view.y0 !== undefined) { y0 = this.view.y0; y1 = this.view.y1; }
      else [y0, y1] = this._yRange(x0, x1);
      if (!isFinite(x0)) { x0 = 0; x1 = 1; }
      if (!isFinite(y0)) { y0 = 0; y1 = 1; }
      if (x0 === x1) { x0 -= 0.5; x1 += 0.5; }
      else if (this.o.mode === "scatter" && !this.view) {
        const pad = this.o.xCategories ? 0.5 : (x1 - x0) * 0.05;
        x0 -= pad; x1 += pad;
      }
      if (y0 === y1) { const d = Math.abs(y0) * 0.1 || 0.5; y0 -= d; y1 += d; }
      else if (!this.view || this.view.y0 === undefined) { const pad = (y1 - y0) * 0.05; y0 -= pad; y1 += pad; }
      const pw = width - MARGIN.left - MARGIN.right, ph = height - MARGIN.top - MARGIN.bottom;
      return {
        width, height, dpr, x0, x1, y0, y1, pw, ph,
        sx: (x) => MARGIN.left + ((x - x0) / (x1 - x0)) * pw,
        sy: (y) => MARGIN.top + (1 - (y - y0) / (y1 - y0)) * ph,
        ix: (px) => x0 + ((px - MARGIN.left) / pw) * (x1 - x0),
        iy: (py) => y0 + (1 - (py - MARGIN.top) / ph) * (y1 - y0),
      };
    }

    draw() {
      const L = (this.L = this._layout());
      const ctx = this.canvas.getContext("2d");
      const fg = cssVar("--fg", "#1c2430"), muted = cssVar("--muted", "#5d6b7d");
      const line = cssVar("--line", "#d9dee5"), bg = cssVar("--bg", "#fff");
      ctx.setTransform(L.dpr, 0, 0, L.dpr, 0, 0);
      ctx.clearRect(0, 0, L.width, L.height);
      ctx.font = "11px system-ui, sans-serif";
      ctx.lineWidth = 1;
      // grid and ticks
      const yt = this.o.logY ? logTicks(L.y0, L.y1, 5) : niceTicks(L.y0, L.y1, 5);
      ctx.strokeStyle = line; ctx.fillStyle = muted; ctx.textAlign = "right"; ctx.textBaseline = "middle";
      for (const t of yt) {
        const py = Math.round(L.sy(t)) + 0.5;
        ctx.beginPath(); ctx.moveTo(MARGIN.left, py); ctx.lineTo(MARGIN.left + L.pw, py); ctx.stroke();
        ctx.fillText(formatNumber(this.o.logY ? Math.pow(10, t) : t), MARGIN.left - 6, py);
      }
      const cats = this.o.xCategories;
      let xt = niceTicks(L.x0, L.x1, Math.max(2, Math.floor(L.pw / 90)));
      if (cats) xt = xt.filter((t) => Number.isInteger(t) && t >= 0 && t < cats.length);
      ctx.textAlign = "center"; ctx.textBaseline = "top";
      for (const t of xt) {
        const px = Math.round(L.sx(t)) + 0.5;
        ctx.beginPath(); ctx.moveTo(px, MARGIN.top); ctx.lineTo(px, MARGIN.top + L.ph); ctx.stroke();
        const label = cats ? String(cats[t]).slice(0, 16) : this.o.xFormat(t);
        ctx.fillText(label, px, MARGIN.top + L.ph + 6);
      }
      ctx.strokeStyle = muted;
      ctx.strokeRect(MARGIN.left + 0.5, MARGIN.top + 0.5, L.pw, L.ph);
      if (this.o.xLabel) {
        ctx.textAlign = "right"; ctx.textBaseline = "bottom"; ctx.fillStyle = muted;
        ctx.fillText(this.o.xLabel, MARGIN.left + L.pw, L.height - 1);
      }
      // series, clipped to the plot
      ctx.save();
      ctx.beginPath(); ctx.rect(MARGIN.left, MARGIN.top, L.pw, L.ph); ctx.clip();
      this.series.forEach((s, i) => {
        const color = s.color || seriesColor(s.index !== undefined ? s.index : i);
        ctx.globalAlpha = s.faded ? 0.28 : 1;
        if (this.o.mode === "scatter") this._drawPoints(ctx, L, s, color);
        else this._drawLine(ctx, L, s, color);
      });
      ctx.globalAlpha = 1;
      // hover guide and drag selection
      if (this.hover) {
        ctx.strokeStyle = muted; ctx.setLineDash([3, 3]);
        ctx.beginPath(); ctx.moveTo(this.hover.px + 0.5, MARGIN.top); ctx.lineTo(this.hover.px + 0.5, MARGIN.top + L.ph); ctx.stroke();
        ctx.setLineDash([]);
        for (const h of this.hover.points) {
          ctx.fillStyle = h.color; ctx.strokeStyle = bg;
          ctx.beginPath(); ctx.arc(L.sx(h.x), L.sy(this._ty(h.y)), 4, 0, 2 * Math.PI); ctx.fill(); ctx.stroke();
        }
      }
      if (this.drag && this.drag.moved) {
        ctx.fillStyle = fg; ctx.globalAlpha = 0.1;
        const a = Math.min(this.drag.x, this.drag.cx), w = Math.abs(this.drag.cx - this.drag.x);
        if (this.o.mode === "scatter") {
          const b = Math.min(this.drag.y, this.drag.cy), h = Math.abs(this.drag.cy - this.drag.y);
          ctx.fillRect(a, b, w, h);
        } else ctx.fillRect(a, MARGIN.top, w, L.ph);
        ctx.globalAlpha = 1;
      }
      ctx.restore();
      const total = this.series.reduce((n, s) => n + s.xs.length, 0);
      this.canvas.setAttribute("aria-label", (this.o.label || "chart") + ": " + this.series.length +
        " series, " + total + " points; drag or use + and - to zoom, Escape to reset");
    }

    _drawLine(ctx, L, s, color) {
      const d = downsample(s.xs, s.ys, L.x0, L.x1, Math.max(8, Math.floor(L.pw / 2)));
      ctx.strokeStyle = color; ctx.lineWidth = s.faded ? 1 : 1.6; ctx.lineJoin = "round";
      ctx.beginPath();
      let pen = false;
      for (let i = 0; i < d.xs.length; i++) {
        const y = this._ty(d.ys[i]);
        if (!isFinite(y)) { pen = false; continue; }
        const px = L.sx(d.xs[i]), py = L.sy(y);
        if (pen) ctx.lineTo(px, py); else { ctx.moveTo(px, py); pen = true; }
      }
      ctx.stroke();
      if (d.xs.length === 1 || d.xs.length < 30) this._drawPoints(ctx, L, d, color, 2.2);
      ctx.lineWidth = 1;
    }

    _drawPoints(ctx, L, s, color, radius) {
      ctx.fillStyle = color;
      const r = radius || 4;
      for (let i = 0; i < s.xs.length; i++) {
        const y = this._ty(s.ys[i]);
        if (!isFinite(y) || !isFinite(s.xs[i])) continue;
        ctx.beginPath(); ctx.arc(L.sx(s.xs[i]), L.sy(y), r, 0, 2 * Math.PI); ctx.fill();
      }
    }

    _nearest(px, py) {
      const L = this.L, points = [];
      if (this.o.mode === "scatter") {
        let best = null, bestD = 144; // within 12 px
        this.series.forEach((s, i) => {
          for (let j = 0; j < s.xs.length; j++) {
            const y = this._ty(s.ys[j]);
            if (!isFinite(y)) continue;
            const dx = L.sx(s.xs[j]) - px, dy = L.sy(y) - py, d = dx * dx + dy * dy;
            if (d < bestD) { bestD = d; best = { s, i, j }; }
          }
        });
        if (best) points.push(this._point(best.s, best.i, best.j));
        return points;
      }
      const x = L.ix(px);
      this.series.forEach((s, i) => {
        if (s.faded || !s.xs.length) return;
        let j = lowerBound(s.xs, x);
        if (j >= s.xs.length || (j > 0 && x - s.xs[j - 1] < s.xs[j] - x)) j -= 1;
        if (j >= 0) points.push(this._point(s, i, j));
      });
      return points;
    }

    _point(s, i, j) {
      return { name: s.name, x: s.xs[j], y: s.ys[j], raw: s.raw ? s.raw[j] : undefined,
        label: s.labels ? s.labels[j] : undefined,
        color: s.color || seriesColor(s.index !== undefined ? s.index : i) };
    }

    _showTip(ev) {
      const rect = this.canvas.getBoundingClientRect();
      const px = ev.clientX - rect.left, py = ev.clientY - rect.top, L = this.L;
      if (!L || px < MARGIN.left || px > MARGIN.left + L.pw || py < MARGIN.top || py > MARGIN.top + L.ph) {
        this._hideTip();
        return;
      }
      const points = this._nearest(px, py);
      if (!points.length) { this._hideTip(); return; }
      this.hover = { px: this.o.mode === "scatter" ? L.sx(points[0].x) : px, points };
      const cats = this.o.xCategories;
      const xText = (x) => (cats ? String(cats[x]) : this.o.xFormat(x, true));
      const lines = [];
      if (this.o.mode === "line") lines.push((this.o.xLabel || "x") + " " + xText(points[0].x));
      for (const p of points.slice(0, 12)) {
        let text = (p.label || p.name || "") + ": " + formatNumber(p.y);
        if (this.o.mode === "scatter") text += " at " + xText(p.x);
        if (p.raw !== undefined && p.raw !== p.y) text += " (raw " + formatNumber(p.raw) + ")";
        lines.push(text);
      }
      if (points.length > 12) lines.push("… " + (points.length - 12) + " more");
      this.tip.replaceChildren(...lines.map((t) => { const d = document.createElement("div"); d.textContent = t; return d; }));
      this.tip.hidden = false;
      const left = Math.min(px + 12, L.width - this.tip.offsetWidth - 4);
      this.tip.style.left = Math.max(0, left) + "px";
      this.tip.style.top = Math.max(0, py - this.tip.offsetHeight - 8) + "px";
      this.draw();
    }

    _hideTip() {
      if (!this.hover && this.tip.hidden) return;
      this.hover = null; this.tip.hidden = true; this.draw();
    }

    _zoomTo(x0, x1, y0, y1) {
      if (!(x1 > x0)) return;
      this.view = { x0, x1 };
      if (y0 !== undefined && y1 > y0) { this.view.y0 = y0; this.view.y1 = y1; }
      this.draw();
      if (this.o.onZoom) this.o.onZoom(x0, x1);
    }

    _bind() {
      const c = this.canvas;
      const pos = (ev) => { const r = c.getBoundingClientRect(); return [ev.clientX - r.left, ev.clientY - r.top]; };
      c.addEventListener("mousedown", (ev) => {
        if (ev.button !== 0) return;
        const [x, y] = pos(ev);
        this.drag = { x, y, cx: x, cy: y, moved: false };
      });
      window.addEventListener("mousemove", (ev) => {
        if (!this.drag) return;
        const [x, y] = pos(ev);
        this.drag.cx = x; this.drag.cy = y;
        this.drag.moved = this.drag.moved || Math.abs(x - this.drag.x) > 4;
        this.draw();
      });
      window.addEventListener("mouseup", () => {
        const d = this.drag;
        this.drag = null;
        if (!d || !d.moved || !this.L) { this.draw(); return; }
        const L = this.L;
        const a = L.ix(Math.min(d.x, d.cx)), b = L.ix(Math.max(d.x, d.cx));
        if (this.o.mode === "scatter" && Math.abs(d.cy - d.y) > 4) {
          this._zoomTo(a, b, L.iy(Math.max(d.y, d.cy)), L.iy(Math.min(d.y, d.cy)));
        } else this._zoomTo(a, b);
      });
      c.addEventListener("mousemove", (ev) => { if (!this.drag) this._showTip(ev); });
      c.addEventListener("mouseleave", () => this._hideTip());
      c.addEventListener("dblclick", () => this.resetZoom());
      c.addEventListener("keydown", (ev) => {
        const L = this.L;
        if (!L) return;
        const span = L.x1 - L.x0;
        const keys = {
          ArrowLeft: [L.x0 - span * 0.1, L.x1 - span * 0.1],
          ArrowRight: [L.x0 + span * 0.1, L.x1 + span * 0.1],
          "+": [L.x0 + span * 0.2, L.x1 - span * 0.2],
          "=": [L.x0 + span * 0.2, L.x1 - span * 0.2],
          "-": [L.x0 - span * 0.25, L.x1 + span * 0.25],
        };
        if (ev.key === "Escape" || ev.key === "0") { this.resetZoom(); ev.preventDefault(); }
        else if (keys[ev.key]) { this._zoomTo(...keys[ev.key]); ev.preventDefault(); }
      });
      if (window.ResizeObserver) {
        let width = 0;
        new ResizeObserver(() => {
          if (this.el.clientWidth !== width) { width = this.el.clientWidth; this.draw(); }
        }).observe(this.el);
      }
      new MutationObserver(() => this.draw()).observe(document.documentElement, { attributes: true, attributeFilter: ["data-theme"] });
      window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => this.draw());
    }
  }

  HeronChart.niceTicks = niceTicks;
  HeronChart.logTicks = logTicks;
  HeronChart.formatNumber = formatNumber;
  HeronChart.ema = ema;
  HeronChart.downsample = downsample;
  HeronChart.seriesColor = seriesColor;
  window.HeronChart = HeronChart;
})();
