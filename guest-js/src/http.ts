/** The SDK's request and response: bodies are bytes (`Uint8Array`) whatever the wire carried. */

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: false });

/** UTF-8 bytes of a string. */
export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

/** A query string's parameters; a key may repeat (`?tag=a&tag=b`). */
export class Query {
  readonly #pairs: Array<[string, string]>;

  constructor(raw: string) {
    this.#pairs = [];
    for (const part of raw.split("&")) {
      if (part === "") continue;
      const eq = part.indexOf("=");
      const key = eq < 0 ? part : part.slice(0, eq);
      const value = eq < 0 ? "" : part.slice(eq + 1);
      this.#pairs.push([decodeComponent(key), decodeComponent(value)]);
    }
  }

  /** The first value of `key`, or `undefined`. */
  get(key: string): string | undefined {
    return this.#pairs.find(([k]) => k === key)?.[1];
  }

  /** Every value of `key`, in order. */
  getAll(key: string): string[] {
    return this.#pairs.filter(([k]) => k === key).map(([, v]) => v);
  }

  has(key: string): boolean {
    return this.#pairs.some(([k]) => k === key);
  }

  /** All (key, value) pairs, in order. */
  entries(): Array<[string, string]> {
    return this.#pairs.map(([k, v]) => [k, v]);
  }
}

function decodeComponent(s: string): string {
  const spaced = s.replace(/\+/g, " ");
  try {
    return decodeURIComponent(spaced);
  } catch {
    return spaced;
  }
}

/** Request headers, looked up case-insensitively; a name may repeat. */
export class Headers {
  readonly #items: Array<[string, string]>;

  constructor(items: Array<[string, string]>) {
    this.#items = items;
  }

  get(name: string): string | undefined {
    const lower = name.toLowerCase();
    return this.#items.find(([k]) => k.toLowerCase() === lower)?.[1];
  }

  getAll(name: string): string[] {
    const lower = name.toLowerCase();
    return this.#items.filter(([k]) => k.toLowerCase() === lower).map(([, v]) => v);
  }

  entries(): Array<[string, string]> {
    return this.#items.map(([k, v]) => [k, v]);
  }
}

/** A handler's answer to a bad request: the router returns `response` instead of calling on. */
export class Rejection extends Error {
  readonly response: Response;

  constructor(response: Response) {
    super(`rejected with ${response.status}`);
    this.response = response;
  }
}

/** Validates parsed JSON: returns the typed value or throws an `Error` saying what is wrong. */
export type Validator<T> = (value: unknown) => T;

/** An HTTP request as a handler sees it. */
export class Request {
  method: string;
  path: string;
  query: Query;
  /** The raw query string, without `?`. */
  rawQuery: string;
  headers: Headers;
  /** The body's exact bytes. */
  body: Uint8Array;
  /** The URL prefix the function is served under, such as `/hello/latest`. */
  mount: string;
  /** Path parameters of the matched route (`/users/:id` → `params.id`). */
  params: Record<string, string>;
  /** The calling function's name when invoked through a module call. */
  caller: string | undefined;

  constructor(init: {
    method?: string;
    path?: string;
    query?: string;
    headers?: Array<[string, string]>;
    body?: Uint8Array | string;
    mount?: string;
    caller?: string;
  } = {}) {
    this.method = (init.method ?? "GET").toUpperCase();
    let path = init.path ?? "/";
    let query = init.query ?? "";
    const q = path.indexOf("?");
    if (q >= 0 && query === "") {
      query = path.slice(q + 1);
      path = path.slice(0, q);
    }
    this.path = path;
    this.rawQuery = query;
    this.query = new Query(query);
    this.headers = new Headers(init.headers ?? []);
    this.body = typeof init.body === "string" ? utf8(init.body) : (init.body ?? new Uint8Array(0));
    this.mount = init.mount ?? "";
    this.params = {};
    this.caller = init.caller;
  }

  /** A header's first value (case-insensitive). */
  header(name: string): string | undefined {
    return this.headers.get(name);
  }

  /** The body as UTF-8 text. */
  text(): string {
    return decoder.decode(this.body);
  }

  /**
   * The body parsed as JSON, checked by `validate` when given; invalid JSON or a value the
   * validator refuses answers 400 `invalid JSON body: ...` (the handler is not called on).
   */
  json<T = unknown>(validate?: Validator<T>): T {
    let value: unknown;
    try {
      value = JSON.parse(this.text());
    } catch (err) {
      throw new Rejection(Response.error(400, `invalid JSON body: ${message(err)}`));
    }
    if (validate === undefined) return value as T;
    try {
      return validate(value);
    } catch (err) {
      throw new Rejection(Response.error(400, `invalid JSON body: ${message(err)}`));
    }
  }
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Compact JSON text (the same bytes serde_json and the Python SDK write for the same value). */
export function dumps(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === "bigint" ? toNumber(v) : v));
}

function toNumber(v: bigint): number | string {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
}

/** An HTTP response. */
export class Response {
  status: number;
  headers: Array<[string, string]>;
  body: Uint8Array;

  constructor(status = 200, headers: Array<[string, string]> = [], body: Uint8Array | string = new Uint8Array(0)) {
    this.status = status;
    this.headers = headers;
    this.body = typeof body === "string" ? utf8(body) : body;
  }

  static text(body: string, status = 200): Response {
    return new Response(status, [["content-type", "text/plain; charset=utf-8"]], body);
  }

  static html(body: string, status = 200): Response {
    return new Response(status, [["content-type", "text/html; charset=utf-8"]], body);
  }

  static json(value: unknown, status = 200): Response {
    return new Response(status, [["content-type", "application/json"]], dumps(value));
  }

  static bytes(body: Uint8Array, status = 200): Response {
    return new Response(status, [["content-type", "application/octet-stream"]], body);
  }

  /** `{"error": message}` with `status`. */
  static error(status: number, message: string): Response {
    return Response.json({ error: message }, status);
  }

  /** A header's first value (case-insensitive). */
  header(name: string): string | undefined {
    const lower = name.toLowerCase();
    return this.headers.find(([k]) => k.toLowerCase() === lower)?.[1];
  }

  /** Adds a header (the name lower-cased); returns the response. */
  withHeader(name: string, value: string): Response {
    this.headers.push([name.toLowerCase(), value]);
    return this;
  }

  /** The body as UTF-8 text. */
  text(): string {
    return decoder.decode(this.body);
  }
}
