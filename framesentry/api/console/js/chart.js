// A small canvas line chart for p_fake series (0..1): live (push) or whole (set), with the verdict thresholds.

export const SERIES = [
  { key: "p_fake", label: "p_fake (smoothed)", color: "#1d2330", width: 2.2 },
  { key: "visual", label: "visual", color: "#2456d6", width: 1.4 },
  { key: "audio", label: "audio", color: "#a86300", width: 1.4 },
];

export class Chart {
  /** `windowS`: seconds of the newest data shown (null: everything). */
  constructor(canvas, { series = SERIES, windowS = 60, thresholds = [0.3, 0.7] } = {}) {
    this.canvas = canvas;
    this.series = series;
    this.windowS = windowS;
    this.thresholds = thresholds;
    this.data = [];
    this.pending = false;
    this.observer = new ResizeObserver(() => this.draw());
    this.observer.observe(canvas);
  }

  push(t, values) {
    this.data.push({ t, ...values });
    if (this.windowS !== null) {
      const oldest = t - this.windowS * 1.5;
      while (this.data.length && this.data[0].t < oldest) this.data.shift();
    }
    this.canvas.dataset.points = String(Number(this.canvas.dataset.points || 0) + 1);
    this.schedule();
  }

  set(points) {
    this.data = points.slice();
    this.canvas.dataset.points = String(points.length);
    this.schedule();
  }

  schedule() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => { this.pending = false; this.draw(); });
  }

  destroy() { this.observer.disconnect(); }

  draw() {
    const { canvas } = this;
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth;
    const height = canvas.clientHeight;
    if (!width || !height) return;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const pad = { left: 30, right: 8, top: 8, bottom: 18 };
    const w = width - pad.left - pad.right;
    const hgt = height - pad.top - pad.bottom;
    const last = this.data.length ? this.data[this.data.length - 1].t : 0;
    const first = this.data.length ? this.data[0].t : 0;
    // Live: the newest `windowS` seconds, but never less than 20 s wide, so a young stream's line is visible.
    const t0 = this.windowS === null ? Math.min(first, 0) : Math.max(first, last - this.windowS);
    const t1 = Math.max(last, t0 + (this.windowS === null ? 1 : 20));
    const x = (t) => pad.left + ((t - t0) / Math.max(1e-6, t1 - t0)) * w;
    const y = (p) => pad.top + (1 - p) * hgt;

    ctx.font = "10px system-ui, sans-serif";
    ctx.fillStyle = "#7a8190";
    ctx.strokeStyle = "#e6e9ef";
    ctx.lineWidth = 1;
    for (const p of [0, 0.5, 1]) {
      ctx.beginPath(); ctx.moveTo(pad.left, y(p)); ctx.lineTo(pad.left + w, y(p)); ctx.stroke();
      ctx.fillText(p.toFixed(1), 4, y(p) + 3);
    }
    ctx.setLineDash([4, 4]);
    for (const [p, color] of [[this.thresholds[0], "#13814a"], [this.thresholds[1], "#c62828"]]) {
      ctx.strokeStyle = color;
      ctx.beginPath(); ctx.moveTo(pad.left, y(p)); ctx.lineTo(pad.left + w, y(p)); ctx.stroke();
    }
    ctx.setLineDash([]);
    ctx.fillStyle = "#7a8190";
    ctx.fillText(`${t0.toFixed(0)} s`, pad.left, height - 4);
    const endLabel = `${t1.toFixed(0)} s`;
    ctx.fillText(endLabel, pad.left + w - ctx.measureText(endLabel).width, height - 4);

    for (const s of this.series) {
      ctx.strokeStyle = s.color;
      ctx.lineWidth = s.width || 1.5;
      ctx.beginPath();
      let open = false;
      for (const point of this.data) {
        const v = point[s.key];
        if (v === null || v === undefined || point.t < t0) { open = false; continue; }
        if (open) ctx.lineTo(x(point.t), y(v)); else ctx.moveTo(x(point.t), y(v));
        open = true;
      }
      ctx.stroke();
    }
  }
}

export function legend(series = SERIES) {
  const el = document.createElement("div");
  el.className = "legend";
  for (const s of series) {
    const item = document.createElement("span");
    const mark = document.createElement("i");
    mark.style.background = s.color;
    item.append(mark, s.label);
    el.append(item);
  }
  return el;
}
