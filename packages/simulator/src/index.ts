export type { AccountSpec, AdditionalLimitSpec, QuotaPatch } from "./accounts.ts";
export { parseSimulatorArgs, runSimulatorCli, SIMULATOR_HELP } from "./cli.ts";
export type { ClockOptions } from "./clock.ts";
export { type Directives, parseDirectives } from "./directives.ts";
export { sseFrame } from "./events.ts";
export type { Fault, FaultKind, FaultMatch, FaultRoute, PendingFault } from "./faults.ts";
export { CODEX_CLIENT_ID, decodeJwtPayload } from "./jwt.ts";
export type { Credits, WindowSpec } from "./quota.ts";
export type { RequestFilter, RequestLogEntry, RequestLogOptions } from "./request-log.ts";
export {
  type AuthDotJson,
  type SimAccountInfo,
  Simulator,
  type SimulatorOptions,
  startSimulator,
  type TlsOptions,
  type WindowView,
} from "./simulator.ts";
