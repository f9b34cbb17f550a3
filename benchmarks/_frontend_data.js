// Shared by the bare regl-scatterplot and plotly pages of benchmarks/frontend.py: the same points the widget
// gets, as plain arrays (x, y, insertion step), and the same 1 % updates.
export async function loadPoints(base, n, updates) {
  const buf = await (await fetch(`${base}/base.bin`)).arrayBuffer();
  const points = {
    x: new Float32Array(buf.slice(0, 4 * n)),
    y: new Float32Array(buf.slice(4 * n, 8 * n)),
    step: new Uint32Array(buf.slice(8 * n, 12 * n)),
  };
  const ups = await Promise.all(
    Array.from({ length: updates }, async (_, i) => {
      const b = await (await fetch(`${base}/upd${i}.bin`)).arrayBuffer();
      const k = b.byteLength / 16;
      return {
        idx: new Uint32Array(b, 0, k),
        x: new Float32Array(b, 4 * k, k),
        y: new Float32Array(b, 8 * k, k),
        step: new Uint32Array(b, 12 * k, k),
      };
    }),
  );
  return { points, updates: ups };
}

// Colour value of each point: its age (newest step − step), scaled to [0, 1], as the widget's "age" colouring.
export function ages(step, out = new Float32Array(step.length)) {
  let newest = 0;
  let oldest = Infinity;
  for (let i = 0; i < step.length; i++) {
    if (step[i] > newest) newest = step[i];
    if (step[i] < oldest) oldest = step[i];
  }
  const span = newest - oldest || 1;
  for (let i = 0; i < step.length; i++) out[i] = (newest - step[i]) / span;
  return out;
}
