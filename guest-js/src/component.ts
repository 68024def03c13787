/** The bridge between componentize-js and an App: the wire event in, the wire response out. */

/// <reference path="./faas.d.ts" />
import type {
  Event, EventCall, EventHttp, Message as WireMessage, Response as WireResponse, Schedule as WireSchedule,
} from "wasmlet:faas/types@0.3.0";

import type { App } from "./app.js";
import { Message, Schedule } from "./events.js";
import { bodyFromWire, bodyToWire } from "./host.js";
import { Request, Response } from "./http.js";

/** The SDK request for a wire `http` or `call` event. */
export function requestFromWire(event: EventHttp | EventCall): Request {
  const wire = event.tag === "call" ? event.val.request : event.val;
  return new Request({
    method: wire.method, path: wire.path, query: wire.query, headers: wire.headers, body: bodyFromWire(wire.body),
    mount: wire.mount, caller: event.tag === "call" ? event.val.caller : undefined,
  });
}

/** The SDK message for a wire `message` record (the payload as its exact bytes). */
export function messageFromWire(wire: WireMessage): Message {
  return new Message({
    source: wire.source, subject: wire.subject, payload: bodyFromWire(wire.payload), headers: wire.headers,
    attempt: wire.attempt, id: wire.id,
  });
}

/** The SDK schedule for a wire `schedule` record (`due-ms`, a bigint on the wire, as a number). */
export function scheduleFromWire(wire: WireSchedule): Schedule {
  return new Schedule(wire.name, Number(wire.dueMs));
}

/** Dispatches a wire event: a message or schedule to its handler, a request or call through the router. */
export function handleEvent(app: App, event: Event): Response {
  switch (event.tag) {
    case "message":
      return app.handleMessage(messageFromWire(event.val));
    case "schedule":
      return app.handleSchedule(scheduleFromWire(event.val));
    default:
      return app.handle(requestFromWire(event));
  }
}

/** The wire response for an SDK response. */
export function responseToWire(resp: Response): WireResponse {
  return { status: resp.status, headers: resp.headers, body: bodyToWire(resp.body) };
}

/** The `handle` export for an app (what the generated entry exports). */
export function exportHandle(app: App): (event: Event) => WireResponse {
  return (event) => responseToWire(handleEvent(app, event));
}
