// The widget's page in benchmarks/frontend.py: better_rl_widget/static/widget.js, the bundle anywidget loads,
// rendered with a minimal anywidget-like model. Frames arrive as Python sends them: the keyframe trait, then
// {type: "delta"} messages with one BRW1 buffer.
import widget from "/static/widget.js";

class Model {
  constructor(values) {
    this.values = { ...values };
    this.handlers = new Map();
  }
  get(key) {
    return this.values[key];
  }
  set(key, value) {
    const old = this.values[key];
    this.values[key] = value;
    if (old !== value) this.emit(`change:${key}`, value);
  }
  on(event, handler) {
    if (!this.handlers.has(event)) this.handlers.set(event, new Set());
    this.handlers.get(event).add(handler);
  }
  off(event, handler) {
    if (!event) this.handlers.clear();
    else if (!handler) this.handlers.delete(event);
    else this.handlers.get(event)?.delete(handler);
  }
  // The view's requests (a keyframe when it opens) go unanswered: it already holds the current one.
  send() {}
  save_changes() {}
  emit(event, ...args) {
    for (const h of Array.from(this.handlers.get(event) ?? [])) h(...args);
  }
}

const empty = () => new DataView(new ArrayBuffer(0));
const bytes = async (url) => new DataView(await (await fetch(url)).arrayBuffer());

window.benchLib = {
  signal: "blit",
  async init({ base, n, updates, width, timeoutMs }) {
    const t0 = performance.now();
    this.deltas = await Promise.all(Array.from({ length: updates }, (_, i) => bytes(`${base}/delta${i}.bin`)));
    const keyframe = await bytes(`${base}/keyframe.bin`);
    window.__bench.fetchMs = performance.now() - t0;
    const app = document.getElementById("app");
    this.model = new Model({
      keyframe,
      inspection: empty(),
      saliency: empty(),
      summary: empty(),
      selection_bytes: empty(),
      history_index: empty(),
      status: {},
      gauge: {},
      color_by: "age",
      clicked: -1,
    });
    app.style.width = `${width}px`;
    this.cleanup = await widget.render({ model: this.model, el: app });
    this.root = app.querySelector(".brw-root");
    // the map as wide as the other pages' canvases: widen the page by the widget's own padding and border
    const plot = this.root.querySelector(".brw-plot");
    app.style.width = `${2 * width - plot.clientWidth}px`;
    await window.__bench.until(
      () => +this.root.dataset.points === n && this.root.__brw.idle(),
      timeoutMs,
      "first draw",
    );
    this.canvas = this.root.querySelector("canvas");
  },
  box() {
    return this.canvas.getBoundingClientRect();
  },
  async update(i) {
    const seq = +this.root.dataset.seq + 1;
    this.model.emit("msg:custom", { type: "delta" }, [this.deltas[i]]);
    await window.__bench.until(() => +this.root.dataset.seq >= seq && this.root.__brw.idle(), 600_000, "delta drawn");
  },
};
