/**
 * Clicks and selections, handled once for every source: a click on the map or on the influential list, a lasso, a
 * skill or segment highlighted by the interpretability panels, and a click on empty map (deselect). DOM-free.
 */

/** Where picks go: the model (Python) and the root's data attributes. */
export interface PickSink {
  /** Set the `clicked` trait (a point id, −1 for none). */
  setClicked(point: number): void;
  /** Set the `selection_bytes` trait (uint32 point ids). */
  setSelection(points: readonly number[]): void;
  /** Send what was set to Python, as one update. */
  save(): void;
}

export class Picks {
  /** Point clicked last, −1 for none. */
  clicked = -1;
  /** Points in the selection sent last. */
  selected = 0;

  constructor(
    private readonly sink: PickSink,
    /** Called before Python hears of a click (a scrubbed map shows its own row at once). */
    private readonly beforeClick: (point: number) => void = () => {},
  ) {}

  click(point: number): void {
    this.clicked = point;
    this.beforeClick(point);
    this.sink.setClicked(point);
    this.sink.save();
  }

  select(points: readonly number[]): void {
    this.selected = points.length;
    this.sink.setSelection(points);
    this.sink.save();
  }

  /** Deselect: tell Python only what changed, in one update. */
  clear(): void {
    let changed = false;
    if (this.clicked !== -1) {
      this.clicked = -1;
      this.sink.setClicked(-1);
      changed = true;
    }
    if (this.selected !== 0) {
      this.selected = 0;
      this.sink.setSelection([]);
      changed = true;
    }
    if (changed) this.sink.save();
  }
}
