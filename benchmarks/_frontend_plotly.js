// plotly scattergl in benchmarks/frontend.py (the anchor): plotly.min.js from the Python plotly package, the same
// points, pan on drag and zoom on the wheel; updates with Plotly.restyle.
import { ages, loadPoints } from "./_frontend_data.js";

window.benchLib = {
  signal: "gl",
  async init({ base, n, updates, width, height, pointSize, extent }) {
    const t0 = performance.now();
    const { points, updates: ups } = await loadPoints(base, n, updates);
    window.__bench.fetchMs = performance.now() - t0;
    this.points = points;
    this.updates = ups;
    const [x0, x1, y0, y1] = extent;
    this.gd = document.createElement("div");
    document.getElementById("app").append(this.gd);
    await Plotly.newPlot(
      this.gd,
      [
        {
          type: "scattergl",
          mode: "markers",
          x: points.x,
          y: points.y,
          marker: { size: pointSize, color: ages(points.step), colorscale: "Viridis", opacity: 0.9 },
        },
      ],
      {
        width,
        height,
        margin: { l: 0, r: 0, t: 0, b: 0 },
        dragmode: "pan",
        showlegend: false,
        xaxis: { range: [x0, x1], visible: false },
        // the same aspect as regl-scatterplot, which keeps it: the same area of points on screen
        yaxis: { range: [y0, y1], visible: false, scaleanchor: "x" },
      },
      { scrollZoom: true, displayModeBar: false, responsive: false },
    );
  },
  box() {
    return (this.gd.querySelector(".nsewdrag") ?? this.gd).getBoundingClientRect();
  },
  async update(i) {
    const u = this.updates[i];
    const { x, y, step } = this.points;
    for (let j = 0; j < u.idx.length; j++) {
      const s = u.idx[j];
      x[s] = u.x[j];
      y[s] = u.y[j];
      step[s] = u.step[j];
    }
    // new array objects, so plotly sees new data
    this.points = { x: x.slice(), y: y.slice(), step };
    await Plotly.restyle(this.gd, { x: [this.points.x], y: [this.points.y], "marker.color": [ages(step)] }, [0]);
  },
};
