/**
 * wasmlet's JavaScript/TypeScript SDK: write a handler, `wasmlet build` makes it a component.
 *
 *     import { App, log } from "wasmlet-guest";
 *     const app = new App();
 *     app.get("/hello/:name", (req) => `hello ${req.params.name}`);
 *     app.message("orders.*", (msg) => log.info(msg.text()));   // returning nothing acknowledges it
 *     export default app;
 */

export { App, toResponse } from "./app.js";
export type { Handler, MessageHandler, Middleware, Next, Reply, ScheduleHandler } from "./app.js";
export { Message, Schedule, subjectMatches } from "./events.js";
export { Headers, Query, Rejection, Request, Response, dumps, utf8 } from "./http.js";
export type { Validator } from "./http.js";
export { HostError, Real, bindHost, call, config, http, kv, log, messaging, sql } from "./host.js";
export type { HostBindings, HostErrorKind, Row, SqlParam, SqlValue } from "./host.js";
export { setStaticFiles } from "./static.js";
export {
  exportHandle, handleEvent, messageFromWire, requestFromWire, responseToWire, scheduleFromWire,
} from "./component.js";
