// Seeded fuzzing of the BRW1 decoder and of the view's frame handling: malformed
// input is refused with CodecError (decode) or a Receipt error (receive*), never
// anything else, and never allocates what a header merely claims.
import { afterAll, beforeEach, describe, expect, it, vi } from "vitest";
import { CodecError, type DType, decode, type EncodeArray, encode } from "../src/codec";
import { receiveDelta, receiveKeyframe } from "../src/receive";
import { PointState } from "../src/state";

declare const process: { memoryUsage(): { arrayBuffers: number } }; // Node's, without @types/node

const TRIED: Record<string, number> = {};
const count = (what: string): void => {
  TRIED[what] = (TRIED[what] ?? 0) + 1;
};
afterAll(() => {
  const total = Object.values(TRIED).reduce((a, b) => a + b, 0);
  console.log(
    `codec fuzz (js): ${total} messages (${Object.entries(TRIED)
      .map(([k, v]) => `${k} ${v}`)
      .join(", ")})`,
  );
});

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const pick = <T>(rand: () => number, xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
const int = (rand: () => number, lo: number, hi: number): number => lo + Math.floor(rand() * (hi - lo + 1));

interface Row {
  slot: number;
  step: number;
}

function frame(
  kind: string,
  seq: unknown,
  rows: Row[],
  removed: number[] = [],
  meta: Record<string, unknown> = {},
): Uint8Array {
  const col = (dtype: DType, f: (r: Row) => number): EncodeArray => ({ dtype, data: rows.map(f) });
  const arrays: Record<string, EncodeArray> = {
    slots: col("uint32", (r) => r.slot),
    x: col("float32", (r) => r.slot + r.step / 1000),
    y: col("float32", (r) => -r.slot),
    step: col("uint32", (r) => r.step),
    episode: col("uint32", () => 0),
    action: col("uint32", (r) => r.slot % 3),
    reward: col("float32", (r) => r.step / 7),
    done: col("uint8", () => 0),
  };
  if (kind === "delta") arrays.removed = { dtype: "uint32", data: removed };
  const channels = { reward: { kind: "continuous" }, action: { kind: "categorical" } };
  return encode({ kind, seq, capacity: 16, extent: [0, 16, -16, 0], newest_step: 0, channels, ...meta }, arrays);
}

function headerOf(blob: Uint8Array): { header: Record<string, unknown>; start: number } {
  const len = new DataView(blob.buffer, blob.byteOffset).getUint32(4, true);
  const header = JSON.parse(new TextDecoder().decode(blob.subarray(8, 8 + len))) as Record<string, unknown>;
  return { header, start: Math.ceil((8 + len) / 8) * 8 };
}

/** `blob` with the header rewritten (raw JSON text allowed); payload and offsets move with the new data start. */
function rewrite(
  blob: Uint8Array,
  edit: (header: Record<string, unknown>, specs: Record<string, Record<string, unknown>>) => void,
  raw?: (text: string) => string,
): Uint8Array {
  const { header, start } = headerOf(blob);
  const specs = (header.arrays ?? {}) as Record<string, Record<string, unknown>>;
  let text = JSON.stringify(header);
  let newStart = 0;
  for (let round = 0; round < 4; round++) {
    const shift = newStart - start;
    for (const spec of Object.values(specs)) if (typeof spec.offset === "number") spec.offset += shift;
    const copy = JSON.parse(JSON.stringify(header)) as Record<string, unknown>;
    for (const spec of Object.values(specs)) if (typeof spec.offset === "number") spec.offset -= shift;
    edit(copy, (copy.arrays ?? {}) as Record<string, Record<string, unknown>>);
    text = raw ? raw(JSON.stringify(copy)) : JSON.stringify(copy);
    const needed = Math.ceil((8 + new TextEncoder().encode(text).length) / 8) * 8;
    if (needed === newStart) break;
    newStart = needed;
  }
  const h = new TextEncoder().encode(text);
  const out = new Uint8Array(newStart + blob.byteLength - start);
  out.set([0x42, 0x52, 0x57, 0x31]);
  new DataView(out.buffer).setUint32(4, h.length, true);
  out.set(h, 8);
  out.set(blob.subarray(start), newStart);
  return out;
}

const JUNK: unknown[] = [
  -1,
  -8,
  0.5,
  1.5,
  2 ** 31,
  2 ** 32,
  2 ** 53,
  2 ** 60,
  1e300,
  null,
  "8",
  "",
  true,
  [],
  {},
  [1, 2],
  [-1],
  [2 ** 40],
  [2 ** 26, 2 ** 26],
  Array(40).fill(1),
  [0, 2 ** 62, 2 ** 62],
];
const RAW_TOKENS = ["NaN", "Infinity", "-Infinity", "1e309", "-1e309", "-0"];

/** Decode; any outcome but a clean result or CodecError fails. Returns the error or null. */
function decodeOrCodecError(blob: Uint8Array): CodecError | null {
  try {
    const got = decode(blob);
    let bytes = 0;
    for (const a of Object.values(got.arrays)) bytes += a.data.byteLength;
    expect(bytes).toBeLessThanOrEqual(blob.byteLength); // never more data than the blob carries
    return null;
  } catch (err) {
    if (!(err instanceof CodecError)) throw new Error(`decode threw ${String(err)} instead of a CodecError`);
    return err;
  }
}

function mutate(rand: () => number, blob: Uint8Array): [string, Uint8Array] {
  const kind = pick(rand, ["flip", "truncate", "header length", "field", "raw token", "overlap", "meta"] as const);
  const b = blob.slice();
  switch (kind) {
    case "flip":
      for (let k = int(rand, 1, 3); k > 0; k--) b[int(rand, 0, b.length - 1)]! ^= int(rand, 1, 255);
      return [kind, b];
    case "truncate":
      return [kind, b.subarray(0, int(rand, 0, b.length - 1))];
    case "header length":
      new DataView(b.buffer).setUint32(
        4,
        pick(rand, [int(rand, 0, b.length), 0xffffffff, 0x7fffffff, int(rand, 0, 2 ** 32 - 1)]),
        true,
      );
      return [kind, b];
    case "field":
      return [
        kind,
        rewrite(blob, (_, specs) => {
          const spec = pick(rand, Object.values(specs));
          spec[pick(rand, ["dtype", "shape", "offset"])] = pick(rand, JUNK);
        }),
      ];
    case "raw token":
      return [
        kind,
        rewrite(
          blob,
          (_, specs) => {
            pick(rand, Object.values(specs))[pick(rand, ["shape", "offset"])] = "__TOKEN__";
          },
          (t) => t.replace('"__TOKEN__"', pick(rand, RAW_TOKENS)),
        ),
      ];
    case "overlap":
      return [
        kind,
        rewrite(blob, (_, specs) => {
          const xs = Object.values(specs);
          pick(rand, xs).offset = pick(rand, xs).offset;
        }),
      ];
    case "meta":
      return [
        kind,
        rewrite(
          blob,
          (header) => {
            (header.meta as Record<string, unknown>)[pick(rand, ["seq", "capacity", "extent", "channels", "kind"])] =
              "__TOKEN__";
          },
          (t) => t.replace('"__TOKEN__"', pick(rand, [...RAW_TOKENS, ...JUNK.map((v) => JSON.stringify(v))])),
        ),
      ];
  }
}

function assertConsistent(s: PointState): void {
  for (let i = 0; i < s.n; i++) expect(s.indexOfSlot(s.slots[i]!)).toBe(i);
  for (const name of ["x", "y", "step"]) expect(s.column(name)?.length ?? 0).toBe(s.n);
}

describe("codec fuzz", () => {
  beforeEach(() => {
    vi.spyOn(console, "warn").mockImplementation(() => {});
  });

  it("decodes or throws CodecError for 4000 mutated messages", () => {
    const rand = rng(1234);
    const rows = (n: number): Row[] => Array.from({ length: n }, (_, i) => ({ slot: i * 3, step: 100 + i }));
    const bases = [
      frame("keyframe", 4, rows(5)),
      frame("delta", 5, rows(2), [7, 8]),
      encode(
        { k: [1, 2] },
        {
          a: { dtype: "float64", data: [1.5, -2] },
          b: { dtype: "int32", shape: [2, 2], data: [1, -2, 3, -4] },
          e: { dtype: "uint8", data: [] },
        },
      ),
    ];
    for (let i = 0; i < 4000; i++) {
      const [kind, blob] = mutate(rand, pick(rand, bases));
      count(`decode/${kind}`);
      try {
        decodeOrCodecError(blob);
      } catch (err) {
        throw new Error(`iteration ${i} (${kind}): ${String(err)}`);
      }
    }
  });

  it("refuses malformed frames without touching the state, for 3000 mutated frames", () => {
    const rand = rng(99);
    const before = process.memoryUsage().arrayBuffers;
    const s = new PointState();
    let refused = 0;
    for (let i = 0; i < 3000; i++) {
      const seq = s.seq + 1;
      const base =
        rand() < 0.3
          ? frame("keyframe", seq, [{ slot: int(rand, 0, 20), step: i }])
          : frame("delta", seq, [{ slot: int(rand, 0, 20), step: i }], [int(rand, 0, 20)]);
      const [kind, blob] = mutate(rand, base);
      count(`frame/${kind}`);
      const snapshot = { seq: s.seq, n: s.n, slots: s.slotList() };
      const got = rand() < 0.5 ? receiveKeyframe(s, blob) : receiveDelta(s, [blob]);
      if (got.error) {
        refused++;
        expect({ seq: s.seq, n: s.n, slots: s.slotList() }).toEqual(snapshot); // refused whole, never half-applied
      }
      assertConsistent(s);
      if (s.gapSeq !== null || !s.hasKeyframe) receiveKeyframe(s, frame("keyframe", s.seq + 1, [{ slot: 1, step: i }]));
    }
    expect(refused).toBeGreaterThan(1000);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 << 20);
  });

  it("never allocates what a header claims", () => {
    const before = process.memoryUsage().arrayBuffers;
    const huge = rewrite(frame("keyframe", 1, [{ slot: 0, step: 0 }]), (_, specs) => {
      specs.x!.shape = [2 ** 40];
    });
    expect(decodeOrCodecError(huge)?.message).toMatch(/exceeds blob size/);
    // capacity is a claim too: the state presizes by it only up to a bound
    const s = new PointState();
    expect(
      receiveKeyframe(s, frame("keyframe", 1, [{ slot: 5, step: 0 }], [], { capacity: 2 ** 40 })).error,
    ).toBeNull();
    expect(s.capacity).toBe(2 ** 40);
    expect(receiveDelta(s, [frame("delta", 2, [{ slot: 2 ** 32 - 1, step: 1 }])]).applied).toBe(true);
    expect(s.slotList().sort((p, q) => p - q)).toEqual([5, 2 ** 32 - 1]);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(16 << 20);
    expect(() => decode(1e9 as unknown as ArrayBuffer)).toThrow(CodecError); // a number is not a blob to allocate
  });

  it("rejects what the issue lists", () => {
    count("fixed cases");
    const base = frame("keyframe", 1, [{ slot: 0, step: 0 }]);
    const cases: [(specs: Record<string, Record<string, unknown>>) => void, RegExp][] = [
      [
        (sp) => {
          sp.x!.shape = [-1];
        },
        /bad shape/,
      ],
      [
        (sp) => {
          sp.x!.offset = 8;
        },
        /bad offset/,
      ], // would read the header as data
      [
        (sp) => {
          sp.x!.offset = sp.y!.offset;
        },
        /overlaps/,
      ],
      [
        (sp) => {
          sp.x!.shape = [2 ** 27, 2 ** 27];
        },
        /too large|exceeds/,
      ],
      [
        (sp) => {
          sp.x!.shape = Array(33).fill(1);
        },
        /bad shape/,
      ],
      [
        (sp) => {
          sp.x = null as unknown as Record<string, unknown>;
        },
        /not an object/,
      ],
      [
        (sp) => {
          sp.x!.dtype = "int64";
        },
        /dtype/,
      ],
    ];
    for (const [edit, reason] of cases) expect(() => decode(rewrite(base, (_, sp) => edit(sp)))).toThrow(reason);
    expect(() =>
      decode(
        rewrite(base, (h) => {
          h.meta = 5;
        }),
      ),
    ).toThrow(/meta is not an object/);
    expect(() =>
      decode(
        rewrite(base, (h) => {
          h.arrays = [1];
        }),
      ),
    ).toThrow(/arrays is not an object/);
    expect(() =>
      decode(
        rewrite(
          base,
          () => {},
          () => "[".repeat(200000),
        ),
      ),
    ).toThrow(CodecError);
    expect(() =>
      decode(
        rewrite(
          base,
          () => {},
          (t) => t.replace('"x":', '"__proto__":'),
        ),
      ),
    ).toThrow(/__proto__/);
    const s = new PointState();
    for (const seq of [-1, 1.5, "3", null, 2 ** 60]) {
      expect(receiveKeyframe(s, frame("keyframe", seq, [{ slot: 0, step: 0 }])).error).toMatch(/seq/);
    }
    expect(s.hasKeyframe).toBe(false);
  });
});

describe("sequence gaps", () => {
  beforeEach(() => {
    vi.spyOn(console, "warn").mockImplementation(() => {});
  });

  it("asks for one keyframe per gap and converges, over 300 lossy streams", () => {
    const rand = rng(7);
    for (let run = 0; run < 300; run++) {
      count("sequence runs");
      // Python's side: slot -> step, and the deltas it sends
      const truth = new Map<number, number>();
      let seq = 1;
      const s = new PointState();
      const keyframe = (): Uint8Array =>
        frame(
          "keyframe",
          seq,
          Array.from(truth, ([slot, step]) => ({ slot, step })),
        );
      receiveKeyframe(s, keyframe());
      let requests = 0;
      let late: Uint8Array[] = [];
      const deliver = (blob: Uint8Array): void => {
        count("sequence deltas");
        const gapOpen = s.gapSeq !== null;
        const seqBefore = s.seq;
        const got = receiveDelta(s, [blob]);
        expect(got.error).toBeNull();
        if (got.applied) expect(s.seq).toBe(seqBefore + 1);
        if (got.requestKeyframe) {
          expect(gapOpen).toBe(false); // once per gap
          requests++;
          if (rand() < 0.7) receiveKeyframe(s, keyframe()); // Python answers (sometimes later)
        }
      };
      for (let step = 0; step < 12; step++) {
        const rows = Array.from({ length: int(rand, 0, 3) }, () => ({
          slot: int(rand, 0, 15),
          step: step * 10 + int(rand, 0, 9),
        }));
        const removed = rand() < 0.3 ? [int(rand, 0, 15)] : [];
        for (const r of rows) truth.set(r.slot, r.step);
        for (const r of removed) if (!rows.some((x) => x.slot === r)) truth.delete(r);
        const blob = frame(
          "delta",
          ++seq,
          rows,
          removed.filter((r) => !rows.some((x) => x.slot === r)),
        );
        const fate = rand();
        if (fate < 0.15) continue; // lost
        if (fate < 0.3) {
          late.push(blob); // delivered after the next one
          continue;
        }
        deliver(blob);
        if (fate < 0.4) deliver(blob); // twice
        for (const b of late) deliver(b);
        late = [];
        if (rand() < 0.1) expect(receiveDelta(s, [b("garbage")]).error).toMatch(/bad delta/);
      }
      for (const b of late) deliver(b);
      if (s.seq !== seq || s.gapSeq !== null) receiveKeyframe(s, keyframe()); // the status line's seq asks for it
      expect(s.gapSeq).toBeNull();
      const got = new Map<number, number>();
      const steps = s.column("step")!;
      for (let i = 0; i < s.n; i++) got.set(s.slots[i]!, steps[i]!);
      expect(got).toEqual(truth);
      assertConsistent(s);
      expect(requests).toBeLessThanOrEqual(12);
    }
  });

  it("a refused delta asks for a keyframe once, like a gap, and logs why", () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const s = new PointState();
    receiveKeyframe(s, frame("keyframe", 3, [{ slot: 1, step: 1 }]));
    const bad = receiveDelta(s, [b("BRW1 but not really")]);
    expect(bad).toEqual({ applied: false, requestKeyframe: true, error: expect.stringMatching(/^bad delta: /) });
    expect(warn).toHaveBeenCalledWith(expect.stringMatching(/better_rl_widget: bad delta/));
    expect(receiveDelta(s, [])).toMatchObject({
      requestKeyframe: false,
      error: "bad delta: delta message without a buffer",
    });
    expect(receiveDelta(s, [frame("delta", 4, [{ slot: 2, step: 2 }])])).toMatchObject({
      applied: false,
      requestKeyframe: false,
    });
    expect(
      receiveKeyframe(
        s,
        frame("keyframe", 4, [
          { slot: 1, step: 1 },
          { slot: 2, step: 2 },
        ]),
      ).applied,
    ).toBe(true);
    expect(receiveDelta(s, [frame("delta", 5, [{ slot: 3, step: 3 }])]).applied).toBe(true);
    expect(s.slotList().sort((p, q) => p - q)).toEqual([1, 2, 3]);
    expect(receiveKeyframe(s, new Uint8Array(0))).toEqual({ applied: false, requestKeyframe: false, error: null });
    expect(receiveKeyframe(s, 42).error).toMatch(/not bytes/);
    expect(receiveKeyframe(s, frame("delta", 9, [])).error).toMatch(/expected a keyframe/);
  });
});

function b(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}
