/**
 * wasmlet's JavaScript/TypeScript SDK: write a handler, `wasmlet build` makes it a component.
 *
 *     import { App, log } from "wasmlet-guest";
 *     const app = new App();
 *     app.get("/hello/:name", (req) => `hello ${req.params.name}`);
 *     export default app;
 */

export { App, toResponse } from "./app.js";
export type { Handler, Middleware, Next, Reply } from "./app.js";
export { Headers, Query, Rejection, Request, Response, dumps, utf8 } from "./http.js";
export type { Validator } from "./http.js";
export { HostError, Real, bindHost, call, config, http, kv, log, sql } from "./host.js";
export type { HostBindings, HostErrorKind, Row, SqlParam, SqlValue } from "./host.js";
export { setStaticFiles } from "./static.js";
export { exportHandle, requestFromWire, responseToWire } from "./component.js";
