/** Hover read-out: the hovered point's row, from this view's own state (no round trip to Python). */
import type { PointState } from "../state";
import { fmtInt, fmtValue, h } from "./format";

const FIELDS = ["step", "episode", "action", "reward", "done", "td_error", "priority"] as const;

export class Tooltip {
  readonly el: HTMLDivElement;

  constructor() {
    this.el = h("div", "brw-tooltip");
    this.el.hidden = true;
  }

  /** Show `slot`'s row at (x, y) in CSS pixels relative to the plot box; null hides. */
  show(state: PointState, slot: number | null, pos: [number, number] | null): void {
    const i = slot === null ? -1 : state.indexOfSlot(slot);
    if (slot === null || i < 0 || pos === null) {
      this.el.hidden = true;
      return;
    }
    const parts = [`slot ${fmtInt(slot)}`];
    for (const name of FIELDS) {
      const col = state.column(name);
      if (col) parts.push(`${name.replace("_", " ")} ${fmtValue(col[i])}`);
    }
    this.el.textContent = parts.join(" · ");
    this.el.style.left = `${Math.round(pos[0] + 10)}px`;
    this.el.style.top = `${Math.round(pos[1] + 10)}px`;
    this.el.hidden = false;
  }
}
