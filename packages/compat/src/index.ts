export * from "./aggregate.ts";
export * from "./chat-request.ts";
export * from "./chat-response.ts";
export * from "./chat-stream.ts";
export {
  chatUsage,
  type Failure,
  failureOf,
  failureStatus,
  STREAM_CUT_MESSAGE,
  safeCode,
  type Terminal,
  terminalOf,
} from "./events.ts";
export * from "./instructions.ts";
export * from "./models.ts";
export * from "./openai-error.ts";
export * from "./responses-request.ts";
export * from "./responses-stream.ts";
export * from "./routes.ts";
export { formatPath } from "./validate.ts";
