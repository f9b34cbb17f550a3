/**
 * Map history for the time scrubber (docs/protocol.md, "Map history"); DOM-free, unit-tested.
 *
 * - `parseHistoryIndex`: the `history_index` trait (ids, training steps, seconds, point counts).
 * - `Scrub`: the slider model. Positions 0..n-1 are the kept snapshots, oldest first; in a live widget position n
 *   is "live". The selection is held by snapshot id, so it survives thinning of other snapshots.
 * - `SnapshotLoader`: snapshots travel on request (`{type: "request_snapshot", id}` → `{type: "snapshot", id}` + one
 *   BRW1 buffer). One request in flight; the newest wish wins; decoded snapshots are cached.
 */
import { decode } from "./codec";
import { type FrameMeta, PointState } from "./state";

type Bytes = DataView | ArrayBuffer | ArrayBufferView;

export interface HistoryEntry {
  id: number;
  step: number;
  /** Seconds since the hook started. */
  time: number;
  points: number;
}

export interface HistoryIndex {
  entries: HistoryEntry[];
  /** Snapshots removed by thinning so far. */
  thinned: number;
}

export interface LoadedSnapshot {
  id: number;
  step: number;
  time: number;
  state: PointState;
}

function isBytes(v: unknown): v is Bytes {
  return v instanceof ArrayBuffer || ArrayBuffer.isView(v);
}

export function parseHistoryIndex(blob: unknown): HistoryIndex {
  if (!isBytes(blob) || blob.byteLength === 0) return { entries: [], thinned: 0 };
  const { meta, arrays } = decode<{ kind?: string; thinned?: number }>(blob);
  if (meta.kind !== "history") throw new Error(`expected a history index, got kind ${String(meta.kind)}`);
  const ids = arrays.ids?.data;
  const steps = arrays.steps?.data;
  const times = arrays.times?.data;
  const points = arrays.points?.data;
  if (!ids || !steps || !times || !points) throw new Error("history index lacks ids/steps/times/points");
  const entries: HistoryEntry[] = [];
  for (let i = 0; i < ids.length; i++) {
    entries.push({ id: ids[i]!, step: steps[i]!, time: times[i]!, points: points[i]! });
  }
  return { entries, thinned: Number(meta.thinned ?? 0) || 0 };
}

/** Decode one snapshot blob into its own PointState. */
export function decodeSnapshot(blob: Bytes): LoadedSnapshot {
  const frame = decode<FrameMeta>(blob);
  const meta = frame.meta as FrameMeta & { id?: unknown; step?: unknown; time_s?: unknown };
  if (meta.kind !== ("snapshot" as string)) throw new Error(`expected a snapshot, got kind ${String(meta.kind)}`);
  const id = Number(meta.id);
  const state = new PointState();
  state.applyKeyframe({ meta: { ...meta, seq: id }, arrays: frame.arrays }, ["x", "y"]);
  return { id, step: Number(meta.step), time: Number(meta.time_s), state };
}

export class Scrub {
  entries: HistoryEntry[] = [];
  /** Snapshot shown, or null for the live map. */
  selectedId: number | null = null;
  /** Step of the selection, to pick the nearest snapshot when it is thinned away. */
  private selectedStep = 0;

  /** `hasLive`: false for a replay (no live map: a snapshot is always shown). */
  constructor(public hasLive = true) {}

  get live(): boolean {
    return this.selectedId === null;
  }

  /** Largest slider position. */
  get max(): number {
    return Math.max(0, this.hasLive ? this.entries.length : this.entries.length - 1);
  }

  /** Slider position of the current selection. */
  get position(): number {
    if (this.selectedId === null) return this.max;
    const i = this.entries.findIndex((e) => e.id === this.selectedId);
    return i < 0 ? this.max : i;
  }

  selectedEntry(): HistoryEntry | null {
    return this.selectedId === null ? null : (this.entries.find((e) => e.id === this.selectedId) ?? null);
  }

  /**
   * New list of kept snapshots. A selection that was thinned away moves to the snapshot nearest in steps; a
   * replay with nothing selected selects the newest. Returns true when the selected id changed.
   */
  setEntries(entries: HistoryEntry[]): boolean {
    this.entries = entries.slice();
    const before = this.selectedId;
    if (this.selectedId !== null && !this.entries.some((e) => e.id === this.selectedId)) {
      let best: HistoryEntry | null = null;
      for (const e of this.entries) {
        if (!best || Math.abs(e.step - this.selectedStep) < Math.abs(best.step - this.selectedStep)) best = e;
      }
      this.selectedId = best ? best.id : null;
    }
    if (!this.hasLive && this.selectedId === null && this.entries.length)
      this.selectedId = this.entries[this.entries.length - 1]!.id;
    if (this.selectedId !== null) this.selectedStep = this.selectedEntry()?.step ?? this.selectedStep;
    return before !== this.selectedId;
  }

  /** Move to slider position `pos` (clamped); returns the snapshot id to show, or null for live. */
  select(pos: number): number | null {
    const n = this.entries.length;
    const p = Math.round(Math.min(Math.max(Number.isFinite(pos) ? pos : this.max, 0), this.max));
    if (n === 0 || (this.hasLive && p >= n)) {
      this.selectedId = this.hasLive || n === 0 ? null : this.entries[n - 1]!.id;
    } else {
      const e = this.entries[p]!;
      this.selectedId = e.id;
      this.selectedStep = e.step;
    }
    return this.selectedId;
  }

  goLive(): void {
    if (this.hasLive) this.selectedId = null;
  }
}

export class SnapshotLoader {
  private readonly cache = new Map<number, LoadedSnapshot>();
  /** Id of the request awaiting an answer, and when it was sent. */
  inFlight: number | null = null;
  private sentAt = 0;
  /** Id the view wants once the in-flight answer is in. */
  wanted: number | null = null;
  /** Requests sent so far. */
  requests = 0;

  constructor(
    private readonly request: (id: number) => void,
    private readonly cacheSize = 8,
    /** A request unanswered for this long (ms) is given up and may be sent again. */
    private readonly timeoutMs = 10_000,
    private readonly now: () => number = () => Date.now(),
  ) {}

  /** The snapshot if cached (shown at once); otherwise asks for it (at most one request in flight) and returns null. */
  want(id: number): LoadedSnapshot | null {
    const hit = this.cache.get(id);
    if (hit) {
      this.cache.delete(id); // LRU: most recently used last
      this.cache.set(id, hit);
      this.wanted = null;
      return hit;
    }
    this.wanted = id;
    if (this.inFlight === null || this.now() - this.sentAt > this.timeoutMs) this.send(id);
    return null;
  }

  private send(id: number): void {
    this.inFlight = id;
    this.sentAt = this.now();
    this.requests++;
    this.request(id);
  }

  /**
   * An answer arrived (`blob` null: Python no longer has that snapshot). Returns the snapshot when it is the one
   * wanted now; sends the request for a newer wish otherwise.
   */
  receive(id: number, blob: Bytes | null): LoadedSnapshot | null {
    if (this.inFlight === id) this.inFlight = null;
    let loaded: LoadedSnapshot | null = null;
    if (blob) {
      loaded = decodeSnapshot(blob);
      this.cache.set(id, loaded);
      while (this.cache.size > this.cacheSize) this.cache.delete(this.cache.keys().next().value!);
    }
    if (this.wanted === id) {
      this.wanted = null;
      return loaded;
    }
    if (this.wanted !== null && this.inFlight === null) {
      const w = this.wanted;
      if (this.cache.has(w)) return null; // the caller asks again through want()
      this.send(w);
    }
    return null;
  }
}

/** "12.3 s", "4 min 05 s", "1 h 02 min". */
export function fmtDuration(s: number): string {
  if (!Number.isFinite(s) || s < 0) return "–";
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(Math.floor(s % 60)).padStart(2, "0")} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} min`;
}
