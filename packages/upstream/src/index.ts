export * from "./client.ts";
export * from "./decode.ts";
export * from "./failures.ts";
export * from "./hygiene.ts";
export * from "./oauth.ts";
export * from "./sse.ts";
export * from "./sse-events.ts";
export * from "./websocket.ts";
