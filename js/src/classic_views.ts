/**
 * DOM-free helpers of the classic-MDP panels (grid_widget.ts, continual_widget.ts): extents and the mapping from data
 * to canvas coordinates (their colours come from colors.ts). Unit-tested with vitest.
 */

/** Arrows for GridWorld's actions 0 up, 1 down, 2 left, 3 right; 255 = no move. */
export const ARROWS = ["↑", "↓", "←", "→"];
export const NO_MOVE = 255;

/** Cell kinds in the layout trait. */
export const KIND = { floor: 0, wall: 1, lava: 2, goal: 3, start: 4 } as const;

/** Finite min and max of an array ([0, 1] when there is no finite value; widened when flat). */
export function finiteExtent(values: ArrayLike<number>): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (Number.isFinite(v)) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  if (lo === Infinity) return [0, 1];
  if (lo === hi) return [lo - 0.5, hi + 0.5];
  return [lo, hi];
}

/** Top-left pixel of grid cell (x, y) where row 0 is the bottom row of the grid. */
export function cellOrigin(x: number, y: number, height: number, cell: number): [number, number] {
  return [x * cell, (height - 1 - y) * cell];
}

/** Canvas points of one curve; NaN values split the curve into separate runs. */
export function polylines(
  xs: ArrayLike<number>,
  ys: ArrayLike<number>,
  xRange: [number, number],
  yRange: [number, number],
  width: number,
  height: number,
): [number, number][][] {
  const runs: [number, number][][] = [];
  let run: [number, number][] = [];
  const dx = xRange[1] - xRange[0] || 1;
  const dy = yRange[1] - yRange[0] || 1;
  for (let i = 0; i < xs.length; i++) {
    const y = ys[i];
    if (!Number.isFinite(y)) {
      if (run.length) runs.push(run);
      run = [];
      continue;
    }
    run.push([((xs[i] - xRange[0]) / dx) * width, height - ((y - yRange[0]) / dy) * height]);
  }
  if (run.length) runs.push(run);
  return runs;
}

/** Column `j` of a row-major (n, cols) matrix. */
export function column(data: ArrayLike<number>, cols: number, j: number): number[] {
  const out: number[] = [];
  for (let i = j; i < data.length; i += cols) out.push(data[i]);
  return out;
}
