// Bare regl-scatterplot in benchmarks/frontend.py: the library the widget draws with, used directly, with the
// widget's settings (point size, continuous colour, opacity) and no widget code.
import createScatterplot from "regl-scatterplot";
import { ages, loadPoints } from "./_frontend_data.js";

const PALETTE = Array.from({ length: 64 }, (_, i) => {
  const t = i / 63;
  const c = (a, b) =>
    Math.round(a + (b - a) * t)
      .toString(16)
      .padStart(2, "0");
  return `#${c(68, 253)}${c(1, 231)}${c(84, 37)}`;
});

window.benchLib = {
  signal: "blit",
  async init({ base, n, updates, width, height, pointSize, extent }) {
    const t0 = performance.now();
    const { points, updates: ups } = await loadPoints(base, n, updates);
    window.__bench.fetchMs = performance.now() - t0;
    this.points = points;
    this.updates = ups;
    const [x0, x1, y0, y1] = extent;
    this.sx = (v) => ((v - x0) * 2) / (x1 - x0) - 1;
    this.sy = (v) => ((v - y0) * 2) / (y1 - y0) - 1;
    this.nx = points.x.map(this.sx);
    this.ny = points.y.map(this.sy);
    this.zeros = new Float32Array(n);
    this.canvas = document.createElement("canvas");
    this.canvas.style.cssText = `display:block;width:${width}px;height:${height}px`;
    document.getElementById("app").append(this.canvas);
    this.plot = createScatterplot({
      canvas: this.canvas,
      width,
      height,
      pointSize,
      colorBy: "valueB",
      pointColor: PALETTE,
      opacity: 0.9,
      // the widget's view (js/src/scatter.ts): points scale with the zoom, so the view sets how much is filled
      cameraDistance: 1.08,
      backgroundColor: [1, 1, 1, 1],
    });
    await this.draw();
  },
  draw() {
    const w = ages(this.points.step);
    return this.plot.draw(
      { x: this.nx, y: this.ny, z: this.zeros, w },
      { zDataType: "categorical", wDataType: "continuous" },
    );
  },
  box() {
    return this.canvas.getBoundingClientRect();
  },
  async update(i) {
    const u = this.updates[i];
    for (let j = 0; j < u.idx.length; j++) {
      const s = u.idx[j];
      this.nx[s] = this.sx(u.x[j]);
      this.ny[s] = this.sy(u.y[j]);
      this.points.step[s] = u.step[j];
    }
    await this.draw();
  },
};
