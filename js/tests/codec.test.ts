import { describe, expect, it } from "vitest";
import { CodecError, type DType, decode, encode, parseJsonLenient, typedArrayFor } from "../src/codec";

// Small deterministic PRNG so failures are reproducible.
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

function randomValues(dtype: DType, n: number, rand: () => number): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const u = rand();
    switch (dtype) {
      case "uint8":
        out.push(Math.floor(u * 256));
        break;
      case "int32":
        out.push(Math.floor(u * 2 ** 32) - 2 ** 31);
        break;
      case "uint32":
        out.push(Math.floor(u * 2 ** 32));
        break;
      case "float32":
        out.push(Math.fround((u - 0.5) * 1e6));
        break;
      case "float64":
        out.push((u - 0.5) * 1e300);
        break;
    }
  }
  return out;
}

/** Copy `blob` into a fresh buffer at `offset` and return a DataView over it. */
function viewAt(blob: Uint8Array, offset: number): DataView {
  const buf = new ArrayBuffer(blob.byteLength + offset + 5);
  new Uint8Array(buf, offset, blob.byteLength).set(blob);
  return new DataView(buf, offset, blob.byteLength);
}

const DTYPES: DType[] = ["uint8", "int32", "uint32", "float32", "float64"];

describe("codec", () => {
  it("round-trips random arrays of every dtype at every byte offset", () => {
    const rand = rng(42);
    for (let trial = 0; trial < 5; trial++) {
      const arrays: Record<string, { dtype: DType; shape: number[]; data: number[] }> = {};
      for (const dtype of DTYPES) {
        const n = Math.floor(rand() * 50);
        arrays[`a_${dtype}`] = { dtype, shape: [n], data: randomValues(dtype, n, rand) };
      }
      arrays.matrix = { dtype: "float32", shape: [3, 4, 2], data: randomValues("float32", 24, rand) };
      arrays.empty = { dtype: "float64", shape: [0], data: [] };
      const meta = { kind: "keyframe", seq: trial, nested: { list: [1, 2, 3], text: "héllo ✓" } };
      const blob = encode(meta, arrays);
      for (let offset = 0; offset < 8; offset++) {
        const decoded = decode(viewAt(blob, offset));
        expect(decoded.meta).toEqual(meta);
        expect(Object.keys(decoded.arrays)).toEqual(Object.keys(arrays));
        for (const [name, a] of Object.entries(arrays)) {
          const d = decoded.arrays[name]!;
          expect(d.dtype).toBe(a.dtype);
          expect(d.shape).toEqual(a.shape);
          expect(d.data).toBeInstanceOf(typedArrayFor(a.dtype, 0).constructor);
          expect(Array.from(d.data)).toEqual(a.data);
        }
      }
    }
  });

  it("accepts ArrayBuffer, Uint8Array and DataView inputs", () => {
    const blob = encode({ k: 1 }, { v: { dtype: "int32", data: [-1, 2, -3] } });
    const buf = new ArrayBuffer(blob.byteLength);
    new Uint8Array(buf).set(blob);
    for (const src of [blob, buf, new DataView(buf)]) {
      expect(Array.from(decode(src).arrays.v!.data)).toEqual([-1, 2, -3]);
    }
  });

  it("makes zero-copy views when aligned and copies otherwise", () => {
    const blob = encode({}, { f: { dtype: "float64", data: [1.5, 2.5] }, u: { dtype: "uint8", data: [7] } });
    const aligned = viewAt(blob, 8);
    const d1 = decode(aligned);
    expect(d1.arrays.f!.data.buffer).toBe(aligned.buffer);
    expect(d1.arrays.u!.data.buffer).toBe(aligned.buffer);
    const unaligned = viewAt(blob, 3);
    const d2 = decode(unaligned);
    expect(d2.arrays.f!.data.buffer).not.toBe(unaligned.buffer);
    expect(Array.from(d2.arrays.f!.data)).toEqual([1.5, 2.5]);
    // uint8 never needs a copy
    expect(d2.arrays.u!.data.buffer).toBe(unaligned.buffer);
  });

  it("lays blocks out as in protocol.md", () => {
    const blob = encode({ a: 1 }, { x: { dtype: "uint8", data: [1, 2, 3] }, y: { dtype: "float64", data: [4] } });
    expect(String.fromCharCode(...blob.subarray(0, 4))).toBe("BRW1");
    const dv = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
    const hlen = dv.getUint32(4, true);
    const header = JSON.parse(new TextDecoder().decode(blob.subarray(8, 8 + hlen)));
    expect(header.meta).toEqual({ a: 1 });
    const start = Math.ceil((8 + hlen) / 8) * 8;
    expect(Array.from(blob.subarray(8 + hlen, start)).every((b) => b === 0)).toBe(true);
    expect(header.arrays.x).toEqual({ dtype: "uint8", shape: [3], offset: start });
    expect(header.arrays.y.offset % 8).toBe(0);
    expect(header.arrays.y.offset).toBeGreaterThanOrEqual(start + 3);
    expect(dv.getFloat64(header.arrays.y.offset, true)).toBe(4);
  });

  it("rejects malformed blobs", () => {
    const good = encode({}, { x: { dtype: "float32", data: [1, 2] } });
    const bad = good.slice();
    bad[0] = 0x58;
    expect(() => decode(bad)).toThrow(CodecError);
    expect(() => decode(good.subarray(0, 6))).toThrow(CodecError);
    expect(() => decode(good.subarray(0, good.byteLength - 1))).toThrow(/exceeds/);
    const mk = (header: object): Uint8Array => {
      const h = new TextEncoder().encode(JSON.stringify(header));
      const out = new Uint8Array(Math.ceil((8 + h.length) / 8) * 8 + 16);
      out.set([0x42, 0x52, 0x57, 0x31]);
      new DataView(out.buffer).setUint32(4, h.length, true);
      out.set(h, 8);
      return out;
    };
    expect(() => decode(mk({ meta: {}, arrays: { x: { dtype: "int64", shape: [1], offset: 64 } } }))).toThrow(/dtype/);
    expect(() => decode(mk({ meta: {}, arrays: { x: { dtype: "uint8", shape: [1], offset: 4 } } }))).toThrow(/offset/);
  });

  it("parses NaN / Infinity in headers as null", () => {
    expect(parseJsonLenient('{"a": NaN, "b": [Infinity, -Infinity], "s": "NaN Infinity"}')).toEqual({
      a: null,
      b: [null, null],
      s: "NaN Infinity",
    });
  });
});
