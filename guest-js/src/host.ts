/**
 * Typed wrappers for every hostcall. A capability the manifest does not grant throws `HostError`
 * with kind `denied`. The generated entry binds the component's imports (`bindHost`); under plain
 * Node (unit tests) nothing is bound and a hostcall throws, unless a test binds fakes.
 */

/// <reference path="./faas.d.ts" />
import type * as Config from "wasmlet:faas/config@0.3.0";
import type * as Kv from "wasmlet:faas/kv@0.3.0";
import type * as Log from "wasmlet:faas/log@0.3.0";
import type * as Messaging from "wasmlet:faas/messaging@0.3.0";
import type * as Modules from "wasmlet:faas/modules@0.3.0";
import type * as Outbound from "wasmlet:faas/outbound-http@0.3.0";
import type * as Sql from "wasmlet:faas/sql@0.3.0";
import type { Body } from "wasmlet:faas/types@0.3.0";

import { Request, Response } from "./http.js";

/** The component's imports, as componentize-js provides them. */
export interface HostBindings {
  log: typeof Log;
  config: typeof Config;
  kv: typeof Kv;
  sql: typeof Sql;
  outboundHttp: typeof Outbound;
  modules: typeof Modules;
  messaging: typeof Messaging;
}

let host: HostBindings | undefined;

/** Binds the hostcalls (the generated entry does; a test may bind fakes). */
export function bindHost(bindings: HostBindings | undefined): void {
  host = bindings;
}

function bound(): HostBindings {
  if (host === undefined) throw new HostError("failed", "hostcalls exist only inside a component");
  return host;
}

/** What kind of failure a hostcall reported. */
export type HostErrorKind = "denied" | "backend" | "timeout" | "not-found" | "failed";

const UNAVAILABLE = new Set<HostErrorKind>(["backend", "timeout"]);

/** A hostcall failed: `kind` is denied, backend, timeout, not-found or failed. */
export class HostError extends Error {
  readonly kind: HostErrorKind;
  readonly detail: string;

  constructor(kind: HostErrorKind, detail: string) {
    super(`${kind}: ${detail}`);
    this.name = "HostError";
    this.kind = kind;
    this.detail = detail;
  }

  /** The HTTP status an uncaught error answers with: 403 denied, 503 unavailable, else 500. */
  get status(): number {
    if (this.kind === "denied") return 403;
    return UNAVAILABLE.has(this.kind) ? 503 : 500;
  }

  /** `{"error": detail, "kind": kind}` with `status` (what the router answers for an uncaught one). */
  response(): Response {
    return Response.json({ error: this.detail, kind: this.kind }, this.status);
  }
}

/** Runs a hostcall; an `err` result (thrown by componentize-js with the case as its payload) becomes a HostError. */
function unwrap<T>(call: () => T): T {
  try {
    return call();
  } catch (err) {
    if (err instanceof HostError) throw err;
    const payload = (err as { payload?: { tag?: string; val?: unknown } } | null)?.payload;
    if (payload !== undefined && typeof payload.tag === "string") {
      throw new HostError(payload.tag as HostErrorKind, String(payload.val ?? ""));
    }
    throw new HostError("failed", err instanceof Error ? err.message : String(err));
  }
}

// ------------------------------------------------------------------ bodies
// The contract carries a body as text (UTF-8), or as `octets`: one code point U+0000–U+00FF per byte,
// one string across the boundary where a list<u8> would cross value by value. Hidden from handlers.

const strict = new TextDecoder("utf-8", { fatal: true });
const CHUNK = 8192;

/** Bytes as the string the contract carries for them: one code point per byte. */
export function bytesToOctets(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i += CHUNK) {
    out += String.fromCharCode.apply(null, bytes.subarray(i, i + CHUNK) as unknown as number[]);
  }
  return out;
}

/** The bytes of an octets string (each character's low byte; the host never sends more). */
export function octetsToBytes(octets: string): Uint8Array {
  const out = new Uint8Array(octets.length);
  for (let i = 0; i < octets.length; i++) out[i] = octets.charCodeAt(i);
  return out;
}

/** `text` when the bytes are UTF-8, else `octets`. */
export function bodyToWire(bytes: Uint8Array): Body {
  try {
    return { tag: "text", val: strict.decode(bytes) };
  } catch {
    return { tag: "octets", val: bytesToOctets(bytes) };
  }
}

/** The exact bytes a body carries, whichever case the host chose. */
export function bodyFromWire(body: Body): Uint8Array {
  switch (body.tag) {
    case "text":
      return new TextEncoder().encode(body.val);
    case "octets":
      return octetsToBytes(body.val);
    case "bytes":
      return body.val;
  }
}

// ------------------------------------------------------------------ log
function write(level: Log.Level, message: string): void {
  if (host === undefined) {
    console.error(`[${level}] ${message}`);
    return;
  }
  host.log.log(level, message);
}

/** Writing to the host's log, tagged with the function, its version and the request id. */
export const log = {
  trace: (message: string): void => write("trace", message),
  debug: (message: string): void => write("debug", message),
  info: (message: string): void => write("info", message),
  warn: (message: string): void => write("warn", message),
  error: (message: string): void => write("error", message),
};

// ------------------------------------------------------------------ config
/** Configuration values the manifest grants. */
export const config = {
  /** The value of `key`, or `undefined` when it is not set. */
  get(key: string): string | undefined {
    return unwrap(() => bound().config.get(key));
  },
};

// ------------------------------------------------------------------ kv
/** Key-value stores, by label. */
export const kv = {
  get(store: string, key: string): Uint8Array | undefined {
    const value = unwrap(() => bound().kv.get(store, key));
    return value === undefined ? undefined : bodyFromWire(value);
  },
  /** The value of `key` as UTF-8 text, or `undefined`. */
  getText(store: string, key: string): string | undefined {
    const value = kv.get(store, key);
    return value === undefined ? undefined : new TextDecoder().decode(value);
  },
  set(store: string, key: string, value: Uint8Array | string): void {
    const bytes = typeof value === "string" ? new TextEncoder().encode(value) : value;
    unwrap(() => bound().kv.set(store, key, bodyToWire(bytes)));
  },
  delete(store: string, key: string): void {
    unwrap(() => bound().kv.delete(store, key));
  },
  keys(store: string, prefix = ""): string[] {
    return unwrap(() => bound().kv.keys(store, prefix));
  },
};

// ------------------------------------------------------------------ sql
/** A number sent as an SQL real even when it is whole (`sql.real(4)`; a plain `4` is an integer). */
export class Real {
  readonly value: number;

  constructor(value: number) {
    this.value = value;
  }
}

/** A parameter: null, a number (an integer when it is whole), `Real`, a bigint, text or bytes. */
export type SqlParam = null | undefined | boolean | number | bigint | string | Uint8Array | Real;
/** A cell: null, a number, text or bytes. */
export type SqlValue = null | number | bigint | string | Uint8Array;
/** One row: column name → value. */
export type Row = Record<string, SqlValue>;

function toValue(v: SqlParam): Sql.Value {
  if (v === null || v === undefined) return { tag: "null" };
  if (v instanceof Real) return { tag: "real", val: v.value };
  if (typeof v === "boolean") return { tag: "integer", val: v ? 1n : 0n };
  if (typeof v === "bigint") return { tag: "integer", val: v };
  if (typeof v === "number") {
    return Number.isSafeInteger(v) ? { tag: "integer", val: BigInt(v) } : { tag: "real", val: v };
  }
  if (typeof v === "string") return { tag: "text", val: v };
  if (v instanceof Uint8Array) return { tag: "blob", val: bytesToOctets(v) };
  throw new TypeError(`cannot pass ${typeof v} to SQL`);
}

const NON_FINITE: Record<string, number> = { inf: Infinity, "-inf": -Infinity, nan: NaN };

/** A packed cell (`sql.rows.packed`): blobs and non-finite reals are the two objects. */
function unpacked(v: unknown): SqlValue {
  if (v !== null && typeof v === "object") {
    const o = v as { blob?: string; real?: string };
    return o.blob !== undefined ? octetsToBytes(o.blob) : (NON_FINITE[o.real ?? "nan"] ?? NaN);
  }
  return v as SqlValue;
}

/** SQL databases, by label, with `?` placeholders; rows come back as objects. */
export const sql = {
  /** `value` as an SQL real (a whole JS number is otherwise sent as an integer). */
  real(value: number): Real {
    return new Real(value);
  },
  /** Runs a statement; returns the number of rows changed. */
  execute(database: string, statement: string, params: SqlParam[] = []): number {
    const n = unwrap(() => bound().sql.execute(database, statement, params.map(toValue)));
    return Number(n);
  },
  /** Runs a query; returns its rows (integers beyond 2^53 lose precision: cast them to text in SQL). */
  query(database: string, statement: string, params: SqlParam[] = []): Row[] {
    const rows = unwrap(() => bound().sql.query(database, statement, params.map(toValue)));
    const columns = rows.columns;
    const packed = JSON.parse(rows.packed) as unknown[][];
    return packed.map((cells) => {
      const row: Row = {};
      for (let i = 0; i < columns.length; i++) row[columns[i]!] = unpacked(cells[i]);
      return row;
    });
  },
};

// ------------------------------------------------------------------ outbound HTTP
/** Outbound HTTP to the origins the manifest allows. */
export const http = {
  send(method: string, url: string, headers: Array<[string, string]> = [], body: Uint8Array | string = ""): Response {
    const bytes = typeof body === "string" ? new TextEncoder().encode(body) : body;
    const resp = unwrap(() => bound().outboundHttp.send({ method, url, headers, body: bodyToWire(bytes) }));
    return new Response(resp.status, resp.headers.map(([k, v]) => [k, v]), bodyFromWire(resp.body));
  },
  get(url: string, headers: Array<[string, string]> = []): Response {
    return http.send("GET", url, headers);
  },
};

// ------------------------------------------------------------------ messaging
/** Publishing to message brokers, by source label and subject, as the manifest grants. */
export const messaging = {
  /** Publishes `payload` (text is sent as UTF-8) with `headers`; returns once the broker has it. */
  publish(source: string, subject: string, payload: Uint8Array | string, headers: Array<[string, string]> = []): void {
    const bytes = typeof payload === "string" ? new TextEncoder().encode(payload) : payload;
    unwrap(() => bound().messaging.publish(source, subject, bodyToWire(bytes), headers));
  },
};

// ------------------------------------------------------------------ modules
/** Calls another function on the same host (`name` or `name/version`). */
export function call(module: string, request: Request): Response {
  const wire = {
    method: request.method, path: request.path, query: request.rawQuery, headers: request.headers.entries(),
    body: bodyToWire(request.body), mount: request.mount,
  };
  const resp = unwrap(() => bound().modules.call(module, wire));
  return new Response(resp.status, resp.headers.map(([k, v]) => [k, v]), bodyFromWire(resp.body));
}
