/** Messages and schedules (contract 0.3.0): the events that are not HTTP requests, and subject patterns. */

import { Rejection, Response, utf8 } from "./http.js";

const decoder = new TextDecoder("utf-8", { fatal: false });

/** A broker delivery (or an asynchronous invocation) as a handler sees it (the payload as bytes). */
export class Message {
  /** The runtime-config label of the source (`[messaging.NAME]`). */
  source: string;
  /** The subject, topic or routing key it was published to. */
  subject: string;
  /** The payload's exact bytes. */
  payload: Uint8Array;
  /** Headers or attributes, as (name, value) pairs. */
  headers: Array<[string, string]>;
  /** 1 on the first delivery, then 2, 3, ... on redeliveries. */
  attempt: number;
  /** The broker's message id, or one the host assigned. */
  id: string;

  constructor(init: {
    source?: string;
    subject?: string;
    payload?: Uint8Array | string;
    headers?: Array<[string, string]>;
    attempt?: number;
    id?: string;
  } = {}) {
    this.source = init.source ?? "";
    this.subject = init.subject ?? "";
    this.payload = typeof init.payload === "string" ? utf8(init.payload) : (init.payload ?? new Uint8Array(0));
    this.headers = init.headers ?? [];
    this.attempt = init.attempt ?? 1;
    this.id = init.id ?? "";
  }

  /** A header's first value (case-insensitive). */
  header(name: string): string | undefined {
    const lower = name.toLowerCase();
    return this.headers.find(([k]) => k.toLowerCase() === lower)?.[1];
  }

  /** The payload as UTF-8 text. */
  text(): string {
    return decoder.decode(this.payload);
  }

  /**
   * The payload parsed as JSON, checked by `validate` when given; invalid JSON or a value the
   * validator refuses answers 400 `invalid JSON payload: ...` (the host dead-letters the message).
   */
  json<T = unknown>(validate?: (value: unknown) => T): T {
    let value: unknown;
    try {
      value = JSON.parse(this.text());
      return validate === undefined ? (value as T) : validate(value);
    } catch (err) {
      throw new Rejection(Response.error(400, `invalid JSON payload: ${err instanceof Error ? err.message : String(err)}`));
    }
  }
}

/** A schedule from the manifest that came due. */
export class Schedule {
  /** The schedule's name in the manifest. */
  name: string;
  /** When it was due, in milliseconds since the Unix epoch (UTC). */
  dueMs: number;

  constructor(name: string, dueMs: number) {
    this.name = name;
    this.dueMs = dueMs;
  }
}

/** Throws unless `>` is at most the last token of `pattern`. */
export function checkPattern(pattern: string): void {
  if (pattern.split(".").slice(0, -1).includes(">")) {
    throw new Error(`subject pattern "${pattern}": \`>\` may only be the last token`);
  }
}

/** Whether `subject` matches `pattern`, as NATS matches: `*` is one `.`-separated token, a last `>` one or more. */
export function subjectMatches(pattern: string, subject: string): boolean {
  const wanted = pattern.split(".");
  const tokens = subject.split(".");
  for (let i = 0; i < wanted.length; i++) {
    const token = wanted[i]!;
    if (token === ">" && i === wanted.length - 1) return tokens.length > i;
    if (i >= tokens.length || (token !== "*" && token !== tokens[i])) return false;
  }
  return wanted.length === tokens.length;
}
