export * from "./app.ts";
export type { IncomingRequest, ResponseStream, Route } from "./uws/http.ts";
