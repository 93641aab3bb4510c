export * from "./app.ts";
export * from "./compose.ts";
export type { RecordBatchMessage, RequestRecord } from "./records.ts";
export { sealTokens, type TokenSealer } from "./state/tokens.ts";
export type { IncomingRequest, ResponseStream, Route } from "./uws/http.ts";
