/**
 * BRW1 binary container (see docs/protocol.md), mirrored by
 * better_rl_widget/widget/codec.py.
 *
 *   bytes 0..3   ASCII magic "BRW1"
 *   bytes 4..7   uint32 LE header length H
 *   bytes 8..8+H UTF-8 JSON header {"meta": {...}, "arrays": {name: {dtype, shape, offset}}}
 *   then         zero padding up to a multiple of 8
 *   then         array blocks, each starting at a multiple of 8 (absolute offsets
 *                from byte 0), little-endian, C order
 */

export type DType = "uint8" | "int32" | "uint32" | "float32" | "float64";

export type TypedArray = Uint8Array | Int32Array | Uint32Array | Float32Array | Float64Array;

export interface DecodedArray {
  dtype: DType;
  shape: number[];
  /** Flat C-order data; a zero-copy view into the source when it was aligned. */
  data: TypedArray;
}

export interface Decoded<M = Record<string, unknown>> {
  meta: M;
  arrays: Record<string, DecodedArray>;
}

export interface EncodeArray {
  dtype: DType;
  /** Defaults to [data.length]. */
  shape?: number[];
  data: ArrayLike<number>;
}

type TypedArrayCtor = {
  new (length: number): TypedArray;
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): TypedArray;
  readonly BYTES_PER_ELEMENT: number;
};

const CTORS: Record<DType, TypedArrayCtor> = {
  uint8: Uint8Array,
  int32: Int32Array,
  uint32: Uint32Array,
  float32: Float32Array,
  float64: Float64Array,
};

export const MAGIC = "BRW1";
const MAGIC_BYTES = [0x42, 0x52, 0x57, 0x31];

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

export class CodecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CodecError";
  }
}

// A Set, not `in`: a header naming "toString" must not pass (Object.hasOwn is ES2022, past our target).
const DTYPES: ReadonlySet<string> = new Set(Object.keys(CTORS));

export function isDType(v: unknown): v is DType {
  return typeof v === "string" && DTYPES.has(v);
}

export function itemSize(dtype: DType): number {
  return CTORS[dtype].BYTES_PER_ELEMENT;
}

export function typedArrayFor(dtype: DType, length: number): TypedArray {
  return new CTORS[dtype](length);
}

function align8(n: number): number {
  return (n + 7) & ~7;
}

/** Uint8Array over exactly the bytes of `src` (no copy). */
export function asBytes(src: DataView | ArrayBuffer | ArrayBufferView): Uint8Array {
  if (src instanceof Uint8Array) return src;
  if (ArrayBuffer.isView(src)) return new Uint8Array(src.buffer, src.byteOffset, src.byteLength);
  // Not `new Uint8Array(x)` for anything else: a number there allocates that many bytes.
  if (!(src instanceof ArrayBuffer)) throw new CodecError(`not binary data: ${typeof src}`);
  return new Uint8Array(src);
}

/** numpy 1.x's dimension limit; the encoders never write deeper arrays. */
const MAX_DIMS = 32;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * JSON.parse that also accepts the non-standard tokens NaN, Infinity and
 * -Infinity (Python's json.dumps emits them by default); they become null.
 */
export function parseJsonLenient(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    const patched = text.replace(/"(?:[^"\\]|\\.)*"|-?Infinity|NaN/g, (m) => (m.charCodeAt(0) === 34 ? m : "null"));
    if (patched === text) throw err;
    return JSON.parse(patched);
  }
}

function product(shape: number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Validated shape of one header entry, or CodecError (same rules as codec.py). */
function checkShape(name: string, shape: unknown, itemBytes: number): number[] {
  if (!Array.isArray(shape) || shape.length > MAX_DIMS || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new CodecError(`array ${name}: bad shape ${String(JSON.stringify(shape)).slice(0, 60)}`);
  }
  let nonzero = itemBytes; // bounded even when a zero dimension makes the array empty, as numpy requires
  for (const d of shape as number[]) {
    nonzero *= Math.max(d, 1);
    if (nonzero > Number.MAX_SAFE_INTEGER)
      throw new CodecError(`array ${name}: shape ${JSON.stringify(shape).slice(0, 60)} is too large`);
  }
  return (shape as number[]).slice();
}

function parseHeader(
  bytes: Uint8Array,
  headerLen: number,
): { meta: Record<string, unknown>; arrays: Record<string, unknown> } {
  let header: unknown;
  try {
    header = parseJsonLenient(new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + headerLen)));
  } catch (err) {
    throw new CodecError(`header is not UTF-8 JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!isPlainObject(header)) throw new CodecError("header is not a JSON object");
  const meta = header.meta ?? {};
  const arrays = header.arrays ?? {};
  if (!isPlainObject(meta)) throw new CodecError("header.meta is not an object");
  if (!isPlainObject(arrays)) throw new CodecError("header.arrays is not an object");
  return { meta, arrays };
}

/** Decode a BRW1 blob. `src` may start at any byteOffset. */
export function decode<M = Record<string, unknown>>(src: DataView | ArrayBuffer | ArrayBufferView): Decoded<M> {
  const bytes = asBytes(src);
  const total = bytes.byteLength;
  if (total < 8) throw new CodecError(`BRW1 blob too short (${total} bytes)`);
  for (let i = 0; i < 4; i++) {
    if (bytes[i] !== MAGIC_BYTES[i]) throw new CodecError("bad magic, expected BRW1");
  }
  const headerLen = (bytes[4]! | (bytes[5]! << 8) | (bytes[6]! << 16) | (bytes[7]! << 24)) >>> 0;
  if (8 + headerLen > total) throw new CodecError(`header length ${headerLen} exceeds blob size ${total}`);
  const { meta, arrays: specs } = parseHeader(bytes, headerLen);
  const dataStart = align8(8 + headerLen);

  const entries: Block[] = [];
  for (const name of Object.keys(specs)) {
    const spec = specs[name];
    if (!isPlainObject(spec)) throw new CodecError(`array ${name}: entry is not an object`);
    // A "__proto__" key would set the result's prototype instead of adding an array.
    if (name === "__proto__") throw new CodecError("array name __proto__ is not allowed");
    const dtype = spec.dtype;
    if (!isDType(dtype)) throw new CodecError(`array ${name}: unsupported dtype ${String(dtype).slice(0, 60)}`);
    const shape = checkShape(name, spec.shape, itemSize(dtype));
    const offset = spec.offset;
    if (typeof offset !== "number" || !Number.isSafeInteger(offset) || offset < dataStart || offset % 8 !== 0) {
      throw new CodecError(`array ${name}: bad offset ${String(offset).slice(0, 60)}`);
    }
    const count = product(shape);
    const nbytes = count * itemSize(dtype);
    // The header's claim against the bytes present, before anything is allocated.
    if (offset + nbytes > total)
      throw new CodecError(`array ${name}: block [${offset}, ${offset + nbytes}) exceeds blob size ${total}`);
    entries.push({ name, dtype, shape, offset, count, nbytes });
  }
  checkDisjoint(entries);

  const arrays: Record<string, DecodedArray> = {};
  for (const { name, dtype, shape, offset, count, nbytes } of entries) {
    const Ctor = CTORS[dtype];
    const absOffset = bytes.byteOffset + offset;
    let data: TypedArray;
    if (Ctor.BYTES_PER_ELEMENT === 1 || (LITTLE_ENDIAN_HOST && absOffset % Ctor.BYTES_PER_ELEMENT === 0)) {
      data = new Ctor(bytes.buffer, absOffset, count); // zero-copy view
    } else if (LITTLE_ENDIAN_HOST) {
      const copy = new Uint8Array(nbytes);
      copy.set(bytes.subarray(offset, offset + nbytes));
      data = new Ctor(copy.buffer, 0, count);
    } else {
      data = readBigEndianHost(bytes, offset, dtype, count);
    }
    arrays[name] = { dtype, shape, data };
  }
  return { meta: meta as M, arrays };
}

interface Block {
  name: string;
  dtype: DType;
  shape: number[];
  offset: number;
  count: number;
  nbytes: number;
}

/** Overlapping blocks would let a small blob decode (and a state copy) more data than it holds. */
function checkDisjoint(entries: Block[]): void {
  const blocks = entries.filter((b) => b.nbytes > 0).sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < blocks.length; i++) {
    const prev = blocks[i - 1]!;
    if (blocks[i]!.offset < prev.offset + prev.nbytes)
      throw new CodecError(`array ${blocks[i]!.name} overlaps array ${prev.name}`);
  }
}

function readBigEndianHost(bytes: Uint8Array, offset: number, dtype: DType, count: number): TypedArray {
  const dv = new DataView(bytes.buffer, bytes.byteOffset + offset);
  const out = typedArrayFor(dtype, count);
  const size = itemSize(dtype);
  for (let i = 0; i < count; i++) {
    const p = i * size;
    switch (dtype) {
      case "uint8":
        out[i] = dv.getUint8(p);
        break;
      case "int32":
        out[i] = dv.getInt32(p, true);
        break;
      case "uint32":
        out[i] = dv.getUint32(p, true);
        break;
      case "float32":
        out[i] = dv.getFloat32(p, true);
        break;
      case "float64":
        out[i] = dv.getFloat64(p, true);
        break;
    }
  }
  return out;
}

/** Encode a BRW1 blob (used by tests and the browser harness). */
export function encode(meta: unknown, arrays: Record<string, EncodeArray>): Uint8Array {
  const names = Object.keys(arrays);
  const typed: TypedArray[] = names.map((name) => {
    const a = arrays[name]!;
    if (!isDType(a.dtype)) throw new CodecError(`array ${name}: unsupported dtype ${String(a.dtype)}`);
    const out = typedArrayFor(a.dtype, a.data.length);
    for (let i = 0; i < a.data.length; i++) out[i] = a.data[i]!;
    const shape = a.shape ?? [a.data.length];
    if (product(shape) !== a.data.length)
      throw new CodecError(`array ${name}: shape ${JSON.stringify(shape)} does not match ${a.data.length} values`);
    return out;
  });
  const shapes = names.map((name) => arrays[name]!.shape ?? [arrays[name]!.data.length]);

  // The block offsets depend on the header length, which depends on the offsets'
  // digits: iterate until the layout is stable (converges in a couple of rounds).
  let dataStart = 8;
  let headerBytes = new Uint8Array(0);
  let offsets: number[] = [];
  for (let round = 0; round < 16; round++) {
    offsets = [];
    let pos = dataStart;
    for (const t of typed) {
      pos = align8(pos);
      offsets.push(pos);
      pos += t.byteLength;
    }
    const specs: Record<string, { dtype: DType; shape: number[]; offset: number }> = {};
    names.forEach((name, i) => {
      specs[name] = { dtype: arrays[name]!.dtype, shape: shapes[i]!, offset: offsets[i]! };
    });
    headerBytes = new TextEncoder().encode(JSON.stringify({ meta, arrays: specs }));
    const needed = align8(8 + headerBytes.byteLength);
    if (needed === dataStart) break;
    dataStart = needed;
  }
  let total = dataStart;
  typed.forEach((t, i) => {
    total = Math.max(total, offsets[i]! + t.byteLength);
  });
  const out = new Uint8Array(total);
  out.set(MAGIC_BYTES, 0);
  new DataView(out.buffer).setUint32(4, headerBytes.byteLength, true);
  out.set(headerBytes, 8);
  const dv = new DataView(out.buffer);
  typed.forEach((t, i) => {
    const off = offsets[i]!;
    if (LITTLE_ENDIAN_HOST) {
      out.set(new Uint8Array(t.buffer, t.byteOffset, t.byteLength), off);
    } else {
      const dtype = arrays[names[i]!]!.dtype;
      const size = itemSize(dtype);
      for (let k = 0; k < t.length; k++) {
        const p = off + k * size;
        const v = t[k]!;
        if (dtype === "uint8") dv.setUint8(p, v);
        else if (dtype === "int32") dv.setInt32(p, v, true);
        else if (dtype === "uint32") dv.setUint32(p, v, true);
        else if (dtype === "float32") dv.setFloat32(p, v, true);
        else dv.setFloat64(p, v, true);
      }
    }
  });
  return out;
}
