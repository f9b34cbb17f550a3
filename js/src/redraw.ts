/**
 * At most one redraw per animation frame and never two draws at once: requests coalesce, and a request made while a
 * draw runs is drawn after it. DOM-free apart from the frame callbacks, which tests replace.
 */
export class RedrawLoop {
  private frame: number | null = null;
  private dirty = false;
  private drawing = false;
  private stopped = false;

  constructor(
    private readonly draw: () => Promise<void>,
    private readonly requestFrame: (cb: () => void) => number = (cb) => requestAnimationFrame(cb),
    private readonly cancelFrame: (id: number) => void = (id) => cancelAnimationFrame(id),
  ) {}

  request(): void {
    this.dirty = true;
    if (this.frame === null && !this.drawing && !this.stopped) this.frame = this.requestFrame(() => this.tick());
  }

  /** Nothing scheduled, nothing drawing. */
  get idle(): boolean {
    return this.frame === null && !this.drawing && !this.dirty;
  }

  stop(): void {
    this.stopped = true;
    if (this.frame !== null) this.cancelFrame(this.frame);
    this.frame = null;
  }

  private tick(): void {
    this.frame = null;
    if (this.stopped || !this.dirty) return;
    this.dirty = false;
    this.drawing = true;
    this.draw().finally(() => {
      this.drawing = false;
      if (this.dirty && !this.stopped) this.request();
    });
  }
}
