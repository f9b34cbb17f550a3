/**
 * Every custom message between a view and Python (docs/protocol.md), in one place. Python mirrors this module in
 * better_rl_widget/widget/view_messages.py; both are tested against js/tests/fixtures/messages.json, so neither side
 * can add, drop or rename a message type or field alone.
 *
 * Traits carry state (keyframe, status, ...: traits.ts); messages carry events and requests.
 */

// ----------------------------------------------------------------------------------------- view → Python

/** The view saw a gap in the delta sequence, or just opened: Python answers with a fresh `keyframe` trait. */
export interface RequestKeyframe {
  type: "request_keyframe";
  seq: number;
}

/** The scrubber wants a kept map snapshot: answered by a {@link SnapshotMessage}. */
export interface RequestSnapshot {
  type: "request_snapshot";
  id: number;
}

/** Saliency maps for the inspected slot: answered in the `saliency` trait. */
export interface SaliencyRequest {
  type: "saliency";
  slot: number;
  method: string;
}

/** The influential list's toggle: saliency on its thumbnails, or not. */
export interface ThumbnailSaliency {
  type: "thumbnail_saliency";
  on: boolean;
}

/** Change what the interpretability panels show; with no field, just refresh them now (the `interpret` trait). */
export interface InterpretRequest {
  type: "interpret";
  k?: number;
  last?: number;
  episode?: number;
}

export type InfluenceGroup = "td" | "priority" | "selection" | "skill";

/** Measure the influence of a group of states on the policy, within `budget_s` seconds (the `interpret` trait). */
export interface InfluenceRequest {
  type: "influence";
  group: InfluenceGroup;
  budget_s: number;
}

export type ViewMessage =
  | RequestKeyframe
  | RequestSnapshot
  | SaliencyRequest
  | ThumbnailSaliency
  | InterpretRequest
  | InfluenceRequest;

// ----------------------------------------------------------------------------------------- Python → view

/** Changed rows of the map: one BRW1 buffer of kind "delta". */
export interface DeltaMessage {
  type: "delta";
}

/** A kept map snapshot: one BRW1 buffer of kind "snapshot", or none when `missing` (thinned away meanwhile). */
export interface SnapshotMessage {
  type: "snapshot";
  id: number;
  missing?: boolean;
}

export type PythonMessage = DeltaMessage | SnapshotMessage;

// ----------------------------------------------------------------------------------------- the table

type FieldsOf<U, T> = Exclude<keyof Extract<U, { type: T }>, "type">;
type FieldTable<U extends { type: string }> = { readonly [T in U["type"]]: readonly FieldsOf<U, T>[] };
/** Fields of a message type that its table row leaves out (never, when the table is complete). */
type Unlisted<U extends { type: string }, Table extends FieldTable<U>> = {
  [T in U["type"]]: Exclude<FieldsOf<U, T>, Table[T][number]>;
}[U["type"]];

/** Each message type and its fields, by direction: what the shared fixture and Python's table are checked against. */
export const MESSAGE_FIELDS = {
  view_to_python: {
    request_keyframe: ["seq"],
    request_snapshot: ["id"],
    saliency: ["slot", "method"],
    thumbnail_saliency: ["on"],
    interpret: ["k", "last", "episode"],
    influence: ["group", "budget_s"],
  } satisfies FieldTable<ViewMessage>,
  python_to_view: {
    delta: [],
    snapshot: ["id", "missing"],
  } satisfies FieldTable<PythonMessage>,
} as const;

type Assert<T extends true> = T;
/** A compile error when an interface above gains a field its table row does not list. */
export type TablesAreComplete = Assert<
  [
    Unlisted<ViewMessage, typeof MESSAGE_FIELDS.view_to_python>,
    Unlisted<PythonMessage, typeof MESSAGE_FIELDS.python_to_view>,
  ] extends [never, never]
    ? true
    : false
>;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * A custom message from Python, checked; throws an Error saying what is wrong (the view logs it and goes on). The
 * message's buffers are the caller's: a delta or snapshot checks its own blob when it decodes it.
 */
export function parsePythonMessage(content: unknown): PythonMessage {
  if (!isObject(content)) throw new Error(`message is ${content === null ? "null" : typeof content}, not an object`);
  switch (content.type) {
    case "delta":
      return { type: "delta" };
    case "snapshot": {
      const id = content.id;
      if (typeof id !== "number" || !Number.isInteger(id) || id < 0) {
        throw new Error(`snapshot message: id ${String(id)} is not a snapshot id`);
      }
      return content.missing === true ? { type: "snapshot", id, missing: true } : { type: "snapshot", id };
    }
    default:
      throw new Error(`unknown message type ${JSON.stringify(content.type) ?? "undefined"}`);
  }
}
