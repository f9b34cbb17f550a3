/**
 * Thin wrapper around regl-scatterplot: draws a PointState, keeps the current
 * selection (by buffer slot) across redraws, and reports clicks and lasso
 * selections as slots.
 *
 * regl-scatterplot facts this relies on (v1.16):
 * - draw() rejects while a previous draw is still in flight, so draws are
 *   serialised here (`busy`); the caller coalesces redraw requests.
 * - A click on a point publishes 'select' with one point index. A shift+drag
 *   lasso publishes 'lassoStart' (on the first drag move), then 'select' (or
 *   'deselect' when the lasso is empty and something was selected), then
 *   'lassoEnd'. With syncEvents the three arrive synchronously in that order,
 *   so a 'select' between lassoStart and lassoEnd is a lasso, anything else
 *   with one point is a click.
 * - Point indices are positions in the last drawn arrays; they are mapped back
 *   to slots through a snapshot of the slots taken at draw time.
 * - The KDBush spatial index is built on the main thread below 1,000,000
 *   points and in a Blob-URL web worker from 1,000,000 points on.
 */
import createScatterplot from "regl-scatterplot";
import { CATEGORICAL, continuousPalette } from "./colors";
import type { ColorValues, PointState } from "./state";

type Scatterplot = ReturnType<typeof createScatterplot>;

export interface ScatterCallbacks {
  /** A single point was clicked (not a lasso). */
  onClick(slot: number): void;
  /** A lasso ended; `slots` may be empty. */
  onLasso(slots: number[]): void;
  /** The user cleared the selection (double click on empty space, Escape). */
  onDeselect(): void;
  /** The pointer is over the point of `slot` (null: over no point). */
  onHover?(slot: number | null): void;
  /** The camera moved (pan / zoom) or the points were redrawn. */
  onView?(): void;
}

export interface ScatterOptions extends ScatterCallbacks {
  canvas: HTMLCanvasElement;
  width: number;
  height: number;
  /** Normalised RGBA of the plot background (used for the selection outline). */
  background: [number, number, number, number];
  /** True on a dark background: hover / selection colours are adapted. */
  dark: boolean;
}

const CONTINUOUS = continuousPalette(64);

function pointSizeFor(n: number): number {
  if (n < 2_000) return 6;
  if (n < 20_000) return 4;
  if (n < 200_000) return 3;
  return 2;
}

function themeProps(background: [number, number, number, number], dark: boolean) {
  return {
    backgroundColor: background,
    pointColorActive: dark ? "#ffffff" : "#111111",
    pointColorHover: dark ? "#ffffff" : "#000000",
    lassoColor: (dark ? [1, 1, 1, 0.8] : [0, 0.4, 0.9, 0.9]) as [number, number, number, number],
  };
}

function texRes(n: number): number {
  return Math.max(2, Math.ceil(Math.sqrt(n)));
}

export class Scatter {
  private readonly plot: Scatterplot;
  private readonly canvas: HTMLCanvasElement;
  private readonly callbacks: ScatterCallbacks;
  private readonly subscriptions: { event: string; handler: unknown }[] = [];
  private readonly onMouseDown = (event: MouseEvent): void => {
    // Safety net: a lasso that never ended (mouse released mid-draw) must not
    // turn later clicks into lassos.
    this.lassoing = false;
    // cmd/alt clicks add to / remove from the selection: not a "click".
    this.modifiedClick = event.metaKey || event.altKey;
  };
  private modifiedClick = false;

  /** Slots of the drawn points, in draw order (index → slot). */
  private drawnSlots = new Uint32Array(0);
  /** Steps of the drawn points, to tell a replaced slot from the selected one. */
  private drawnSteps = new Float64Array(0);
  /** Current selection: slot → step of the transition that was selected. */
  private selected = new Map<number, number>();
  private lassoing = false;
  private colorMode: "categorical" | "continuous" | null = null;
  private pointSize = 0;
  private destroyed = false;
  /** True while a draw() is in flight. */
  busy = false;
  /** Number of points in the last completed draw. */
  drawnCount = 0;

  constructor(opts: ScatterOptions) {
    this.canvas = opts.canvas;
    this.callbacks = opts;
    this.plot = createScatterplot({
      canvas: opts.canvas,
      width: Math.max(1, Math.round(opts.width)),
      height: Math.max(1, Math.round(opts.height)),
      syncEvents: true,
      ...themeProps(opts.background, opts.dark),
      pointColor: [...CATEGORICAL],
      pointOutlineWidth: 2,
      pointSizeSelected: 2,
      opacity: 0.9,
      lassoMinDelay: 8,
      lassoMinDist: 2,
      cameraDistance: 1.08,
      lassoInitiator: false,
      lassoOnLongPress: false,
      // Escape is pressed all the time in a notebook (command mode): do not let
      // it clear the selection. Double click on empty space still does.
      deselectOnEscape: false,
      deselectOnDblClick: true,
      // shift = lasso, cmd/meta = add to selection, alt = remove; no rotation.
      actionKeyMap: { lasso: "shift", merge: "cmd", remove: "alt" },
    } as Parameters<typeof createScatterplot>[0]);

    this.on("select", ({ points }: { points: number[] }) => this.handleSelect(points));
    this.on("deselect", () => this.handleDeselect());
    this.on("lassoStart", () => {
      this.lassoing = true;
    });
    this.on("lassoEnd", () => this.handleLassoEnd());
    this.on("pointOver", (i: number) => {
      const slot = i >= 0 && i < this.drawnSlots.length ? this.drawnSlots[i]! : null;
      this.callbacks.onHover?.(slot);
    });
    this.on("pointOut", () => this.callbacks.onHover?.(null));
    this.on("view", () => this.callbacks.onView?.());
    this.canvas.addEventListener("mousedown", this.onMouseDown, true);
  }

  private on(event: string, handler: (payload: never) => void): void {
    const safe = (payload: never): void => {
      try {
        handler(payload);
      } catch (err) {
        console.error(`better_rl_widget: error in scatter ${event} handler`, err);
      }
    };
    (this.plot.subscribe as (e: string, h: unknown) => unknown)(event, safe);
    this.subscriptions.push({ event, handler: safe });
  }

  private slotsOf(indices: readonly number[]): number[] {
    const out: number[] = [];
    for (const i of indices) if (i >= 0 && i < this.drawnSlots.length) out.push(this.drawnSlots[i]!);
    return out;
  }

  private setSelectionFromIndices(indices: readonly number[]): void {
    this.selected.clear();
    for (const i of indices) {
      if (i >= 0 && i < this.drawnSlots.length) this.selected.set(this.drawnSlots[i]!, this.drawnSteps[i]!);
    }
  }

  private handleSelect(points: number[]): void {
    this.setSelectionFromIndices(points);
    if (this.lassoing) return; // reported on lassoEnd
    if (points.length === 1 && !this.modifiedClick) {
      const [slot] = this.slotsOf(points);
      if (slot !== undefined) this.callbacks.onClick(slot);
    }
  }

  private handleDeselect(): void {
    this.selected.clear();
    if (!this.lassoing) this.callbacks.onDeselect();
  }

  private handleLassoEnd(): void {
    this.lassoing = false;
    this.setSelectionFromIndices(this.plot.get("selectedPoints") ?? []);
    this.callbacks.onLasso(Array.from(this.selected.keys()));
  }

  setTheme(background: [number, number, number, number], dark: boolean): void {
    if (this.destroyed) return;
    void this.plot.set(themeProps(background, dark));
  }

  setSize(width: number, height: number): void {
    if (this.destroyed) return;
    void this.plot.set({ width: Math.max(1, Math.round(width)), height: Math.max(1, Math.round(height)) });
  }

  /**
   * Draw the state's present points coloured by `colors`. Resolves to the
   * number of points drawn, or null when skipped (busy / destroyed).
   */
  async draw(state: PointState, colors: ColorValues): Promise<number | null> {
    if (this.destroyed || this.busy) return null;
    this.busy = true;
    try {
      return await this.drawNow(state, colors);
    } finally {
      this.busy = false;
    }
  }

  private async drawNow(state: PointState, colors: ColorValues): Promise<number | null> {
    // Snapshot everything synchronously: the state may change while we await.
    const n = state.n;
    const { x, y } = state.normalizedCoords();
    const slots = state.slots.slice(0, n);
    const steps = new Float64Array(n);
    const stepCol = state.column("step");
    if (stepCol) steps.set(stepCol);
    const zeros = new Float32Array(n);
    const categorical = colors.kind === "categorical";
    const slotIndex = (slot: number): number => {
      const i = state.indexOfSlot(slot);
      return i >= 0 && i < n && slots[i] === slot ? i : slots.indexOf(slot);
    };

    if (colors.kind !== this.colorMode) {
      this.colorMode = colors.kind;
      await this.plot.set({
        colorBy: categorical ? "valueA" : "valueB",
        pointColor: categorical ? [...CATEGORICAL] : CONTINUOUS,
      });
    }
    const size = pointSizeFor(n);
    if (size !== this.pointSize) {
      this.pointSize = size;
      await this.plot.set({ pointSize: size });
    }
    if (this.destroyed) return null;

    // Map the selection (slot → step) onto the new indices; drop evicted or
    // replaced transitions.
    const selectIdx: number[] = [];
    for (const [slot, step] of this.selected) {
      const i = slotIndex(slot);
      if (i >= 0 && steps[i] === step) selectIdx.push(i);
      else this.selected.delete(slot);
    }
    // regl-scatterplot keeps its selection buffer when the selected indices are
    // unchanged, but that buffer depends on the state-texture size: clear it
    // first when that size changes.
    if (texRes(n) !== texRes(this.drawnCount) && (this.plot.get("selectedPoints") ?? []).length > 0) {
      this.plot.deselect({ preventEvent: true });
    }

    if (n === 0) {
      await this.plot.clearPoints();
    } else {
      await this.plot.draw(
        { x, y, z: categorical ? colors.values : zeros, w: categorical ? zeros : colors.values },
        { zDataType: "categorical", wDataType: "continuous", select: selectIdx },
      );
    }
    if (this.destroyed) return null;
    this.drawnSlots = slots;
    this.drawnSteps = steps;
    this.drawnCount = n;
    this.slotToIndex = null;
    return n;
  }

  /** Lazily built slot → draw index of the last draw (for many position look-ups at once). */
  private slotToIndex: Map<number, number> | null = null;

  /** Screen positions (CSS pixels, x0 y0 x1 y1 …) of `slots`; NaN for slots not drawn; null while busy. */
  screenPositions(slots: ArrayLike<number>): Float32Array | null {
    if (this.destroyed || this.busy || this.drawnCount === 0) return null;
    if (this.slotToIndex === null) {
      this.slotToIndex = new Map();
      for (let i = 0; i < this.drawnSlots.length; i++) this.slotToIndex.set(this.drawnSlots[i]!, i);
    }
    const out = new Float32Array(2 * slots.length).fill(NaN);
    for (let j = 0; j < slots.length; j++) {
      const i = this.slotToIndex.get(slots[j]!);
      if (i === undefined) continue;
      try {
        const p = this.plot.getScreenPosition(i);
        if (p) {
          out[2 * j] = p[0];
          out[2 * j + 1] = p[1];
        }
      } catch {
        return null;
      }
    }
    return out;
  }

  /** Select the drawn points of `slots` (as a lasso would, without reporting it back). */
  selectSlots(slots: readonly number[]): number[] {
    if (this.destroyed || this.drawnCount === 0) return [];
    const want = new Set(slots);
    const idx: number[] = [];
    for (let i = 0; i < this.drawnSlots.length; i++) if (want.has(this.drawnSlots[i]!)) idx.push(i);
    this.setSelectionFromIndices(idx);
    this.plot.select(idx, { preventEvent: true });
    return this.slotsOf(idx);
  }

  /** Slots of the points currently drawn, in draw order. */
  slots(): number[] {
    return Array.from(this.drawnSlots);
  }

  /** Slots currently selected in the view. */
  selectedSlots(): number[] {
    return Array.from(this.selected.keys());
  }

  /** Screen position of a drawn slot in CSS pixels relative to the canvas, or null. */
  screenPositionOfSlot(slot: number): [number, number] | null {
    if (this.destroyed || this.busy || this.drawnCount === 0) return null;
    const i = this.drawnSlots.indexOf(slot);
    if (i < 0) return null;
    try {
      const p = this.plot.getScreenPosition(i);
      return p ? [p[0], p[1]] : null;
    } catch {
      return null;
    }
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.canvas.removeEventListener("mousedown", this.onMouseDown, true);
    for (const { event, handler } of this.subscriptions) {
      (this.plot.unsubscribe as (e: string, h: unknown) => void)(event, handler);
    }
    this.subscriptions.length = 0;
    this.plot.destroy();
  }
}
