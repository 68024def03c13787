/** The app: routes by method and path pattern, onion middleware, static files; message handlers by
 * subject pattern and schedule handlers by name. */

import { Message, Schedule, checkPattern, subjectMatches } from "./events.js";
import { HostError } from "./host.js";
import { Rejection, Request, Response, dumps } from "./http.js";
import { StaticDir } from "./static.js";

/** What a handler may return: a response, text, bytes, `[status, value]`, nothing (204) or any JSON value. */
export type Reply = Response | string | Uint8Array | [number, Reply] | null | undefined | object | number | boolean;
/** A route handler. */
export type Handler = (req: Request) => Reply;
/** Calls the rest of the chain (inner middleware, then the route). */
export type Next = (req: Request) => Response;
/** A middleware: `(request, next) => response`; the first added is the outermost. */
export type Middleware = (req: Request, next: Next) => Response;
/** A message handler: nothing acknowledges the message (200), anything else answers as a route's reply. */
export type MessageHandler = (msg: Message) => Reply | void;
/** A schedule handler: nothing answers 200, anything else as a route's reply. */
export type ScheduleHandler = (schedule: Schedule) => Reply | void;

/** What a handler returned, as a response. */
export function toResponse(value: Reply): Response {
  if (value instanceof Response) return value;
  if (Array.isArray(value) && value.length === 2 && typeof value[0] === "number") {
    const resp = toResponse(value[1] as Reply);
    resp.status = value[0];
    return resp;
  }
  if (typeof value === "string") return Response.text(value);
  if (value instanceof Uint8Array) return Response.bytes(value);
  if (value === null || value === undefined) return new Response(204);
  return new Response(200, [["content-type", "application/json"]], dumps(value));
}

const PARAM = /^(?::(\w+)|\{(\w+)\})$/;

class Route {
  readonly methods: string[];
  readonly segments: string[];
  readonly names: Array<string | undefined>;
  readonly rest: string | undefined;
  readonly handler: Handler;

  constructor(methods: string[], pattern: string, handler: Handler) {
    this.methods = methods;
    let segments = pattern.split("/").filter((s) => s !== "");
    const last = segments[segments.length - 1];
    this.rest = last?.startsWith("*") ? last.slice(1) : undefined;
    if (this.rest !== undefined) segments = segments.slice(0, -1);
    this.segments = segments;
    this.names = segments.map((s) => {
      const m = PARAM.exec(s);
      return m ? (m[1] ?? m[2]) : undefined;
    });
    this.handler = handler;
  }

  match(path: string): Record<string, string> | undefined {
    const parts = path.split("/").filter((p) => p !== "");
    if (parts.length < this.segments.length || (this.rest === undefined && parts.length !== this.segments.length)) {
      return undefined;
    }
    const params: Record<string, string> = {};
    for (let i = 0; i < this.segments.length; i++) {
      const name = this.names[i];
      const part = parts[i]!;
      if (name !== undefined) params[name] = decode(part);
      else if (this.segments[i] !== part) return undefined;
    }
    if (this.rest !== undefined) params[this.rest] = parts.slice(this.segments.length).join("/");
    return params;
  }

  call(req: Request): Response {
    try {
      return toResponse(this.handler(req));
    } catch (err) {
      if (err instanceof Rejection) return err.response;
      if (err instanceof HostError) return err.response(); // an uncaught failed hostcall: 403, 503 or 500
      throw err;
    }
  }
}

/** Runs a message or schedule handler: nothing is 200; a HostError or Rejection answers as on a route. */
function reply<E>(handler: (event: E) => Reply | void, event: E): Response {
  try {
    const value = handler(event);
    return value === undefined || value === null ? new Response(200) : toResponse(value as Reply);
  } catch (err) {
    if (err instanceof Rejection) return err.response;
    if (err instanceof HostError) return err.response();
    throw err;
  }
}

function decode(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}

/** A function's routes, middleware, static folders, message and schedule handlers. */
export class App {
  readonly #routes: Route[] = [];
  readonly #middleware: Middleware[] = [];
  readonly #statics: StaticDir[] = [];
  readonly #messages: Array<[string, MessageHandler]> = [];
  readonly #schedules: Array<[string, ScheduleHandler]> = [];

  /** Registers a handler; `:name` (or `{name}`) is a path parameter, `*name` the rest of the path. */
  route(methods: string[], path: string, handler: Handler): this {
    this.#routes.push(new Route(methods.map((m) => m.toUpperCase()), path, handler));
    return this;
  }

  get(path: string, handler: Handler): this {
    return this.route(["GET", "HEAD"], path, handler);
  }

  post(path: string, handler: Handler): this {
    return this.route(["POST"], path, handler);
  }

  put(path: string, handler: Handler): this {
    return this.route(["PUT"], path, handler);
  }

  delete(path: string, handler: Handler): this {
    return this.route(["DELETE"], path, handler);
  }

  patch(path: string, handler: Handler): this {
    return this.route(["PATCH"], path, handler);
  }

  /** Adds a middleware `(request, next) => response`; the first added is the outermost. */
  use(middleware: Middleware): this {
    this.#middleware.push(middleware);
    return this;
  }

  /** Serves `folder` (relative to the function's folder, embedded in the component) under `prefix`. */
  static(prefix: string, folder: string): this {
    this.#statics.push(new StaticDir(prefix, folder));
    return this;
  }

  /** Handles messages whose subject matches `pattern` (`*` one token, a last `>` the rest); the first match wins. */
  message(pattern: string, handler: MessageHandler): this {
    checkPattern(pattern);
    this.#messages.push([pattern, handler]);
    return this;
  }

  /** Handles the manifest's schedule `name` when it comes due. */
  schedule(name: string, handler: ScheduleHandler): this {
    this.#schedules.push([name, handler]);
    return this;
  }

  /** Runs the first handler whose pattern matches the subject (no middleware); 404 when none does. */
  handleMessage(msg: Message): Response {
    const found = this.#messages.find(([pattern]) => subjectMatches(pattern, msg.subject));
    if (found === undefined) return Response.error(404, `no handler for message on ${msg.subject}`);
    return reply(found[1], msg);
  }

  /** Runs the handler registered for the schedule's name (no middleware); 404 when there is none. */
  handleSchedule(schedule: Schedule): Response {
    const found = this.#schedules.find(([name]) => name === schedule.name);
    if (found === undefined) return Response.error(404, `no handler for schedule ${schedule.name}`);
    return reply(found[1], schedule);
  }

  /** Runs a request through the middleware and the routes (unit tests call this directly). */
  handle(req: Request): Response {
    try {
      return this.#run(0, req);
    } catch (err) {
      if (err instanceof HostError || err instanceof Rejection) {
        const resp = err instanceof HostError ? err.response() : err.response;
        if (req.method === "HEAD") resp.body = new Uint8Array(0);
        return resp;
      }
      throw err;
    }
  }

  #run(index: number, req: Request): Response {
    const middleware = this.#middleware[index];
    if (middleware !== undefined) return middleware(req, (r) => this.#run(index + 1, r));
    return this.#dispatch(req);
  }

  #dispatch(req: Request): Response {
    const allowed: string[] = [];
    for (const route of this.#routes) {
      const params = route.match(req.path);
      if (params === undefined) continue;
      if (route.methods.includes(req.method)) {
        req.params = params;
        const resp = route.call(req);
        if (req.method === "HEAD") resp.body = new Uint8Array(0);
        return resp;
      }
      for (const m of route.methods) if (!allowed.includes(m)) allowed.push(m);
    }
    if (req.method === "GET" || req.method === "HEAD") {
      for (const dir of this.#statics) {
        const resp = dir.serve(req);
        if (resp !== undefined) return resp;
      }
    }
    if (allowed.length > 0) {
      return Response.error(405, `method ${req.method} not allowed`).withHeader("allow", allowed.join(", "));
    }
    return Response.error(404, `no route for ${req.method} ${req.path}`);
  }
}
