import { describe, expect, it } from "vitest";
import { encode } from "../src/codec";
import { base64ToBytes, PageModel, snapshotResponder } from "../src/export/page_model";
import {
  decodeSnapshot,
  fmtDuration,
  type HistoryEntry,
  parseHistoryIndex,
  Scrub,
  SnapshotLoader,
} from "../src/history";
import { statusText } from "../src/panels/status";
import { snapshotBlob } from "./helpers";

function indexBlob(entries: HistoryEntry[]): Uint8Array {
  return encode(
    { kind: "history", count: entries.length, thinned: 2 },
    {
      ids: { dtype: "uint32", data: entries.map((e) => e.id) },
      steps: { dtype: "float64", data: entries.map((e) => e.step) },
      times: { dtype: "float64", data: entries.map((e) => e.time) },
      points: { dtype: "uint32", data: entries.map((e) => e.points) },
    },
  );
}

const entries = (steps: number[], firstId = 0): HistoryEntry[] =>
  steps.map((step, i) => ({ id: firstId + i, step, time: step / 10, points: 3 }));

describe("history index", () => {
  it("parses the trait and treats an empty one as no history", () => {
    const idx = parseHistoryIndex(indexBlob(entries([0, 50, 100])));
    expect(idx.entries.map((e) => e.step)).toEqual([0, 50, 100]);
    expect(idx.entries[1]).toEqual({ id: 1, step: 50, time: 5, points: 3 });
    expect(idx.thinned).toBe(2);
    expect(parseHistoryIndex(new DataView(new ArrayBuffer(0))).entries).toEqual([]);
    expect(() => parseHistoryIndex(encode({ kind: "keyframe" }, {}))).toThrow(/history index/);
  });

  it("decodes a snapshot that has only coordinates and extra fields", () => {
    const s = decodeSnapshot(snapshotBlob(7, 300, [0.5, -0.25], true));
    expect(s.id).toBe(7);
    expect(s.step).toBe(300);
    expect(Array.from(s.state.x)).toEqual([0.5, -0.25]);
    expect(s.state.colorChannels()).toEqual(["age", "skill"]);
    expect(Array.from(s.state.column("skill")!)).toEqual([0, 1]);
    expect(() => decodeSnapshot(encode({ kind: "keyframe", seq: 1 }, {}))).toThrow(/expected a snapshot/);
  });
});

describe("Scrub", () => {
  it("puts live at the right end of a live widget and keeps a selection by id through thinning", () => {
    const s = new Scrub(true);
    s.setEntries(entries([0, 10, 20, 30]));
    expect(s.live).toBe(true);
    expect(s.max).toBe(4);
    expect(s.position).toBe(4);
    expect(s.select(1)).toBe(1);
    expect(s.selectedEntry()!.step).toBe(10);
    // a new snapshot arrives: the selection stays on the same snapshot (same id), at the same position
    expect(s.setEntries(entries([0, 10, 20, 30, 40]))).toBe(false);
    expect(s.position).toBe(1);
    // the selected snapshot is thinned away: the nearest step is picked
    const thinned = [
      { id: 0, step: 0, time: 0, points: 3 },
      { id: 2, step: 20, time: 2, points: 3 },
      { id: 4, step: 40, time: 4, points: 3 },
    ];
    expect(s.setEntries(thinned.map((e) => (e.id === 2 ? { ...e, step: 14 } : e)))).toBe(true);
    expect(s.selectedId).toBe(2);
    expect(s.select(99)).toBe(null); // past the end = live
    expect(s.live).toBe(true);
    s.select(0);
    s.goLive();
    expect(s.live).toBe(true);
  });

  it("has no live position in a replay and shows the newest snapshot first", () => {
    const s = new Scrub(false);
    expect(s.setEntries(entries([5, 6, 7], 10))).toBe(true);
    expect(s.selectedId).toBe(12);
    expect(s.max).toBe(2);
    expect(s.position).toBe(2);
    expect(s.select(99)).toBe(12);
    expect(s.select(-5)).toBe(10);
    s.goLive();
    expect(s.selectedId).toBe(10);
  });
});

describe("SnapshotLoader", () => {
  it("keeps one request in flight, lets the newest wish win and caches answers", () => {
    const sent: number[] = [];
    let t = 0;
    const l = new SnapshotLoader(
      (id) => sent.push(id),
      2,
      10_000,
      () => t,
    );
    expect(l.want(1)).toBe(null);
    expect(l.want(2)).toBe(null);
    expect(l.want(3)).toBe(null); // dragging: only the first went out
    expect(sent).toEqual([1]);
    // the answer for 1 is not wanted any more: 3 is asked for next (2 is skipped)
    expect(l.receive(1, snapshotBlob(1, 10, [0]))).toBe(null);
    expect(sent).toEqual([1, 3]);
    const got = l.receive(3, snapshotBlob(3, 30, [0, 1]));
    expect(got!.step).toBe(30);
    // cached: shown at once, nothing sent
    expect(l.want(1)!.step).toBe(10);
    expect(l.want(3)!.step).toBe(30);
    expect(sent).toEqual([1, 3]);
    // cache of 2: asking for a third evicts the least recently used (1)
    l.want(4);
    l.receive(4, snapshotBlob(4, 40, [0]));
    expect(l.want(1)).toBe(null);
    expect(sent).toEqual([1, 3, 4, 1]);
    // an unanswered request is given up after the timeout
    l.want(5);
    expect(sent).toEqual([1, 3, 4, 1]);
    t = 20_000;
    l.want(5);
    expect(sent).toEqual([1, 3, 4, 1, 5]);
    // Python no longer has it: nothing to show, nothing cached
    expect(l.receive(5, null)).toBe(null);
    expect(l.requests).toBe(5);
  });
});

describe("export page model", () => {
  it("fires change events on set and answers snapshot requests asynchronously, like a kernel", async () => {
    const blob = snapshotBlob(0, 100, [0.1, 0.2]);
    const model = new PageModel({ color_by: "age" }, snapshotResponder(new Map([[0, blob]])));
    const changes: unknown[] = [];
    const onChange = (v: unknown): void => void changes.push(v);
    model.on("change:color_by", onChange);
    model.set("color_by", "reward");
    model.set("color_by", "reward"); // unchanged: no event
    model.off("change:color_by", onChange);
    model.set("color_by", "age");
    expect(changes).toEqual(["reward"]);
    expect(model.get("color_by")).toBe("age");

    const got: { msg: unknown; buffers: unknown }[] = [];
    model.on("msg:custom", (msg, buffers) => void got.push({ msg, buffers }));
    model.send({ type: "request_snapshot", id: 0 });
    model.send({ type: "request_snapshot", id: 9 });
    model.send({ type: "request_keyframe", seq: 0 });
    expect(got).toEqual([]); // not synchronous
    await new Promise((r) => setTimeout(r, 5));
    expect(got.map((g) => g.msg)).toEqual([
      { type: "snapshot", id: 0 },
      { type: "snapshot", id: 9, missing: true },
    ]);
    const dv = (got[0]!.buffers as DataView[])[0]!;
    expect(decodeSnapshot(dv).step).toBe(100);
    model.save_changes();
  });

  it("reads the base64 data block", () => {
    expect(Array.from(base64ToBytes("QlJX\nMQ=="))).toEqual([66, 82, 87, 49]);
  });
});

describe("replay status and durations", () => {
  it("shows a replay without live counters", () => {
    expect(statusText({ replay: true, running: false, frames_shown: 0, notes: ["replay of 3 map snapshots"] })).toBe(
      "replay · replay of 3 map snapshots",
    );
    expect(fmtDuration(5.25)).toBe("5.3 s");
    expect(fmtDuration(125)).toBe("2 min 05 s");
    expect(fmtDuration(3725)).toBe("1 h 02 min");
  });
});
