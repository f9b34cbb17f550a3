/**
 * Episode paths drawn over the map: a 2-D canvas on top of the WebGL one (pointer events pass through), one
 * polyline per episode through its states in step order, each segment coloured by time within the episode
 * (the continuous ramp: start dark, end bright). Redrawn when the camera moves or the points are redrawn.
 *
 * regl-scatterplot's own point connections connect *every* point by a line id and interpolate splines in a
 * worker; here only a few episodes are drawn, so an overlay is cheaper and leaves the point draw untouched.
 */
import { rampColor } from "../colors";

export type ScreenPositions = (slots: ArrayLike<number>) => Float32Array | null;

export class PathOverlay {
  readonly canvas: HTMLCanvasElement;
  private paths: Uint32Array[] = [];
  /** Number of path vertices drawn last time (tests read it from the root's data-paths). */
  drawn = 0;

  constructor() {
    this.canvas = document.createElement("canvas");
    this.canvas.className = "brw-paths";
  }

  setPaths(paths: Uint32Array[]): void {
    this.paths = paths;
  }

  get count(): number {
    return this.paths.length;
  }

  draw(width: number, height: number, positions: ScreenPositions): number {
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(width * dpr));
    const hgt = Math.max(1, Math.round(height * dpr));
    if (this.canvas.width !== w || this.canvas.height !== hgt) {
      this.canvas.width = w;
      this.canvas.height = hgt;
      this.canvas.style.width = `${width}px`;
      this.canvas.style.height = `${height}px`;
    }
    const ctx = this.canvas.getContext("2d");
    if (!ctx) return 0;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, height);
    ctx.lineWidth = 2;
    ctx.lineCap = "round";
    let drawn = 0;
    for (const path of this.paths) {
      const xy = positions(path);
      if (!xy) continue;
      const n = path.length;
      for (let i = 0; i + 1 < n; i++) {
        const ax = xy[2 * i]!,
          ay = xy[2 * i + 1]!,
          bx = xy[2 * i + 2]!,
          by = xy[2 * i + 3]!;
        if (!Number.isFinite(ax) || !Number.isFinite(bx)) continue;
        ctx.strokeStyle = rampColor(n > 1 ? i / (n - 1) : 0);
        ctx.beginPath();
        ctx.moveTo(ax, ay);
        ctx.lineTo(bx, by);
        ctx.stroke();
      }
      for (let i = 0; i < n; i++) {
        if (!Number.isFinite(xy[2 * i]!)) continue;
        drawn++;
        if (i === 0 || i === n - 1) {
          // start and end marked
          ctx.fillStyle = rampColor(i === 0 ? 0 : 1);
          ctx.beginPath();
          ctx.arc(xy[2 * i]!, xy[2 * i + 1]!, 4, 0, 2 * Math.PI);
          ctx.fill();
        }
      }
    }
    this.drawn = drawn;
    return drawn;
  }
}
