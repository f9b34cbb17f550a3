/**
 * The anywidget model an exported HTML page gives the widget's own render code: get / set / on / off / send /
 * save_changes over values read from the inlined data, and a responder standing in for Python (it answers
 * {type: "request_snapshot", id} from the inlined snapshots, and nothing else). DOM-free, unit-tested.
 */
import type { PythonMessage, ViewMessage } from "../messages";

type Handler = (...args: unknown[]) => void;

export type Responder = (msg: ViewMessage, model: PageModel) => void;

export class PageModel {
  private readonly values: Record<string, unknown>;
  private readonly handlers = new Map<string, Set<Handler>>();
  /** Messages the view sent, newest last (for tests and debugging). */
  readonly sent: ViewMessage[] = [];

  constructor(
    values: Record<string, unknown>,
    private readonly responder: Responder = () => {},
  ) {
    this.values = { ...values };
  }

  get(key: string): unknown {
    return this.values[key];
  }

  set(key: string, value: unknown): void {
    const old = this.values[key];
    this.values[key] = value;
    if (old !== value) this.emit(`change:${key}`, value);
  }

  on(event: string, handler: Handler): void {
    let set = this.handlers.get(event);
    if (!set) {
      set = new Set();
      this.handlers.set(event, set);
    }
    set.add(handler);
  }

  off(event?: string | null, handler?: Handler | null): void {
    if (!event) this.handlers.clear();
    else if (!handler) this.handlers.delete(event);
    else this.handlers.get(event)?.delete(handler);
  }

  /** Like a comm message to Python: answered asynchronously, as a kernel would. */
  send(msg: ViewMessage): void {
    this.sent.push(msg);
    setTimeout(() => this.responder(msg, this), 0);
  }

  save_changes(): void {}

  /** Deliver a custom message to the view, as anywidget does for messages from Python. */
  emitCustom(msg: PythonMessage, buffers: DataView[] = []): void {
    this.emit("msg:custom", msg, buffers);
  }

  private emit(event: string, ...args: unknown[]): void {
    for (const h of Array.from(this.handlers.get(event) ?? [])) {
      try {
        h(...args);
      } catch (err) {
        console.error(`better_rl_widget: error in ${event} handler`, err);
      }
    }
  }
}

/** A responder serving snapshot blobs by id (what `BufferWidget._send_snapshot` does in Python). */
export function snapshotResponder(snapshots: Map<number, Uint8Array>): Responder {
  return (msg, model) => {
    if (msg.type !== "request_snapshot") return;
    const blob = snapshots.get(msg.id);
    if (!blob) model.emitCustom({ type: "snapshot", id: msg.id, missing: true });
    else
      model.emitCustom({ type: "snapshot", id: msg.id }, [new DataView(blob.buffer, blob.byteOffset, blob.byteLength)]);
  };
}

/** Standard base64 → bytes (the page's data block). */
export function base64ToBytes(b64: string): Uint8Array {
  const bin = atob(b64.replace(/\s+/g, ""));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}
