/** The bridge between componentize-js and an App: the wire event in, the wire response out. */

/// <reference path="./faas.d.ts" />
import type { Event, Response as WireResponse } from "wasmlet:faas/types@0.2.0";

import type { App } from "./app.js";
import { bodyFromWire, bodyToWire } from "./host.js";
import { Request, Response } from "./http.js";

/** The SDK request for a wire event (an HTTP request, or a call from another function). */
export function requestFromWire(event: Event): Request {
  const wire = event.tag === "call" ? event.val.request : event.val;
  return new Request({
    method: wire.method, path: wire.path, query: wire.query, headers: wire.headers, body: bodyFromWire(wire.body),
    mount: wire.mount, caller: event.tag === "call" ? event.val.caller : undefined,
  });
}

/** The wire response for an SDK response. */
export function responseToWire(resp: Response): WireResponse {
  return { status: resp.status, headers: resp.headers, body: bodyToWire(resp.body) };
}

/** The `handle` export for an app (what the generated entry exports). */
export function exportHandle(app: App): (event: Event) => WireResponse {
  return (event) => responseToWire(app.handle(requestFromWire(event)));
}
