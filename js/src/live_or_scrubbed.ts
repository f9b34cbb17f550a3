/**
 * Which map the view draws: the live one, or a kept snapshot picked with the time scrubber (docs/protocol.md, "Map
 * history"). The live `PointState` takes every frame from Python either way; while a snapshot is shown those frames
 * are counted, not drawn. A recorded history (replay widget, HTML export) has no live map. DOM-free, unit-tested.
 */
import { type HistoryEntry, type LoadedSnapshot, Scrub, SnapshotLoader } from "./history";
import type { SnapshotMessage } from "./messages";
import { fmtInt } from "./panels/format";
import type { PointState } from "./state";
import type { Bytes } from "./traits";

export interface ScrubHost {
  /** The map shown changed (live ↔ a snapshot, or another snapshot): redraw it. */
  shownChanged(): void;
  /** The scrubber's entries, position or loading state changed. */
  scrubberChanged(): void;
  /** Ask Python for snapshot `id` ({type: "request_snapshot", id}). */
  requestSnapshot(id: number): void;
}

export class LiveOrScrubbed {
  readonly scrub = new Scrub(true);
  readonly loader: SnapshotLoader;
  private snap: LoadedSnapshot | null = null;
  /** Live frames that arrived while a snapshot was shown. */
  missedFrames = 0;

  constructor(
    readonly live: PointState,
    private readonly host: ScrubHost,
  ) {
    this.loader = new SnapshotLoader((id) => host.requestSnapshot(id));
  }

  /** The map drawn now. */
  get shown(): PointState {
    return this.snap ? this.snap.state : this.live;
  }

  /** The snapshot drawn now, or null for the live map. */
  get snapshot(): LoadedSnapshot | null {
    return this.snap;
  }

  get isLive(): boolean {
    return this.snap === null;
  }

  /** The scrubber points at a snapshot that has not arrived yet. */
  get loading(): boolean {
    return this.scrub.selectedId !== null && this.snap?.id !== this.scrub.selectedId;
  }

  /** A live frame was applied to `live`; true when it is to be drawn (the live map is shown). */
  liveFrame(): boolean {
    if (this.snap === null) return true;
    this.missedFrames++;
    return false;
  }

  /** The status line's note while a live run is scrubbed back, else null. */
  note(): string | null {
    if (!this.snap || !this.scrub.hasLive) return null;
    const n = this.missedFrames;
    const missed = n ? ` (${fmtInt(n)} live frame${n === 1 ? "" : "s"} since)` : "";
    return `showing the map at step ${fmtInt(this.snap.step)}: live updates arrive but are not drawn${missed} · press live to return ·`;
  }

  /** Move the scrubber to `position` (Infinity: live, or the newest snapshot of a recorded history). */
  scrubTo(position: number): void {
    const id = this.scrub.select(position);
    if (id === null) {
      this.show(null);
      return;
    }
    const got = this.loader.want(id);
    if (got) this.show(got);
    else this.host.scrubberChanged();
  }

  /** A new list of kept snapshots (the `history_index` trait). */
  setEntries(entries: HistoryEntry[]): void {
    if (this.scrub.setEntries(entries)) this.scrubTo(this.scrub.position);
    else this.host.scrubberChanged();
  }

  /** A recorded history has no live map: the scrubber always shows a snapshot. */
  setReplay(replay: boolean): void {
    if (this.scrub.hasLive !== replay) return;
    this.scrub.hasLive = !replay;
    this.setEntries(this.scrub.entries);
  }

  /** Python's answer to a snapshot request (`blob` null when it has none). Throws on a malformed blob. */
  receive(msg: SnapshotMessage, blob: Bytes | null): void {
    const got = this.loader.receive(msg.id, msg.missing ? null : blob);
    const wanted = this.scrub.selectedId;
    if (got && got.id === wanted) {
      this.show(got);
    } else if (wanted !== null && wanted !== this.snap?.id && this.loader.inFlight === null) {
      const again = this.loader.want(wanted); // e.g. answered from the cache after a newer wish
      if (again) this.show(again);
    }
  }

  private show(snap: LoadedSnapshot | null): void {
    this.snap = snap;
    this.missedFrames = 0;
    this.host.shownChanged();
  }
}
