/** Overlay over the map while there are no points. pointer-events: none, so it never blocks the canvas. */
import { h } from "./format";

export const EMPTY_TEXT = "Buffer is empty — waiting for transitions";

export class EmptyHint {
  readonly el: HTMLDivElement;

  constructor() {
    this.el = h("div", "brw-empty-hint", EMPTY_TEXT);
  }

  update(points: number): void {
    this.el.hidden = points > 0;
  }
}
