/**
 * The worker's check of a request-record message, by hand.
 *
 * `recordBatchMessageSchema` (zod, accounting.ts) is the definition; this is
 * the same rule set written out for the one place it runs per record. Why not
 * zod here: in a one-process install the worker shares the gateway's heap, and
 * zod's parse (it builds a result object and an issue list per field) was the
 * largest allocation site of the whole gateway process in the benchmark's
 * allocation profile (≈ 15 % of the bytes per short request) and ≈ 3.6 µs of
 * CPU per record; this check builds no copy and no per-field result, and is tested
 * against the zod schema as its oracle (record-check.test.ts).
 */
import type { RecordBatchMessage } from "./accounting.ts";

export type RecordPath = Array<string | number>;

export type RecordBatchCheck =
  | { success: true; data: RecordBatchMessage }
  | { success: false; path: RecordPath; message: string };

class Problem {
  constructor(
    readonly path: RecordPath,
    readonly message: string,
  ) {}
}

type Obj = Record<string, unknown>;

const CODE = /^[A-Za-z0-9_.-]{1,80}$/;
const ID = /^[a-z]{2,5}_[0-9a-z]{10,40}$/;
const ROUTE = /^[a-z0-9_]{1,40}$/;
const TRANSPORTS = new Set(["http_json", "http_sse", "websocket"]);
const REQUEST_STATUSES = new Set(["succeeded", "failed", "rejected", "cancelled"]);
const ATTEMPT_STATUSES = new Set(["succeeded", "failed", "retryable_failed", "cancelled"]);

const USAGE_KEYS = ["inputTokens", "cachedInputTokens", "outputTokens", "reasoningTokens", "totalTokens"];
const ATTEMPT_KEYS = new Set([
  "id",
  "attemptNo",
  "accountId",
  "status",
  "httpStatus",
  "errorCode",
  "startedAt",
  "ttfbMs",
  "durationMs",
  "usage",
]);
const RECORD_KEYS = new Set([
  "id",
  "poolId",
  "apiKeyId",
  "accountId",
  "model",
  "route",
  "transport",
  "status",
  "httpStatus",
  "errorCode",
  "clientOriginator",
  "startedAt",
  "completedAt",
  "ttfbMs",
  "durationMs",
  "gatewayOverheadMs",
  "usage",
  "attempts",
]);

function at(path: RecordPath, key: string | number): RecordPath {
  return [...path, key];
}

function object(v: unknown, path: RecordPath): Obj {
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new Problem(path, "expected an object");
  return v as Obj;
}

/** Strict, checked after the named fields (zod's order): a field the schema does not name could carry anything. */
function known(o: Obj, path: RecordPath, keys: ReadonlySet<string>): void {
  // for-in also lists an own "__proto__" key, which JSON.parse creates as data. The key is not
  // named in the problem: it is message content, and problems are logged.
  for (const k in o) if (!keys.has(k)) throw new Problem(path, "unrecognized key");
}

function number(o: Obj, key: string, path: RecordPath, min: number, max: number, int: boolean): void {
  const v = o[key];
  if (typeof v !== "number" || !Number.isFinite(v)) throw new Problem(at(path, key), "expected a number");
  if (int && !Number.isSafeInteger(v)) throw new Problem(at(path, key), "expected an integer");
  if (v < min) throw new Problem(at(path, key), `expected a number ≥ ${min}`);
  if (v > max) throw new Problem(at(path, key), `expected a number ≤ ${max}`);
}

function ms(o: Obj, key: string, path: RecordPath, nullable: boolean): void {
  if (nullable && o[key] === null) return;
  number(o, key, path, 0, Number.POSITIVE_INFINITY, false);
}

function httpStatus(o: Obj, path: RecordPath): void {
  if (o["httpStatus"] !== null) number(o, "httpStatus", path, 100, 599, true);
}

function string(o: Obj, key: string, path: RecordPath, rule: RegExp | number, nullable: boolean): void {
  const v = o[key];
  if (nullable && v === null) return;
  if (typeof v !== "string") throw new Problem(at(path, key), "expected a string");
  if (typeof rule === "number" ? v.length > rule : !rule.test(v))
    throw new Problem(at(path, key), typeof rule === "number" ? `longer than ${rule}` : "invalid format");
}

function oneOf(o: Obj, key: string, path: RecordPath, allowed: ReadonlySet<string>): void {
  const v = o[key];
  if (typeof v !== "string" || !allowed.has(v)) throw new Problem(at(path, key), "invalid option");
}

const USAGE_KEY_SET = new Set(USAGE_KEYS);

function usage(o: Obj, path: RecordPath): void {
  const v = o["usage"];
  if (v === null) return;
  const p = at(path, "usage");
  const u = object(v, p);
  for (const k of USAGE_KEYS) number(u, k, p, 0, 2_000_000_000, true);
  known(u, p, USAGE_KEY_SET);
}

function attempt(v: unknown, path: RecordPath): void {
  const a = object(v, path);
  string(a, "id", path, ID, false);
  number(a, "attemptNo", path, 1, 100, true);
  string(a, "accountId", path, ID, true);
  oneOf(a, "status", path, ATTEMPT_STATUSES);
  httpStatus(a, path);
  string(a, "errorCode", path, CODE, true);
  ms(a, "startedAt", path, false);
  ms(a, "ttfbMs", path, true);
  ms(a, "durationMs", path, true);
  usage(a, path);
  known(a, path, ATTEMPT_KEYS);
}

function record(v: unknown, path: RecordPath): void {
  const r = object(v, path);
  string(r, "id", path, ID, false);
  string(r, "poolId", path, ID, true);
  string(r, "apiKeyId", path, ID, true);
  string(r, "accountId", path, ID, true);
  string(r, "model", path, 200, true);
  string(r, "route", path, ROUTE, false);
  oneOf(r, "transport", path, TRANSPORTS);
  oneOf(r, "status", path, REQUEST_STATUSES);
  httpStatus(r, path);
  string(r, "errorCode", path, CODE, true);
  string(r, "clientOriginator", path, 64, true);
  ms(r, "startedAt", path, false);
  ms(r, "completedAt", path, false);
  ms(r, "ttfbMs", path, true);
  ms(r, "durationMs", path, false);
  ms(r, "gatewayOverheadMs", path, true);
  usage(r, path);
  const attempts = r["attempts"];
  const p = at(path, "attempts");
  if (!Array.isArray(attempts)) throw new Problem(p, "expected an array");
  if (attempts.length > 100) throw new Problem(p, "more than 100 items");
  for (let i = 0; i < attempts.length; i++) attempt(attempts[i], at(p, i));
  known(r, path, RECORD_KEYS);
}

const MESSAGE_KEYS = new Set(["v", "records"]);

/**
 * Checks a parsed request-record message against `recordBatchMessageSchema`'s
 * rules: accepts exactly what it accepts, and names the first field that is
 * wrong. On success `data` is the value itself (nothing is copied).
 */
export function checkRecordBatchMessage(value: unknown): RecordBatchCheck {
  try {
    const m = object(value, []);
    if (m["v"] !== 1) throw new Problem(["v"], "expected 1");
    const records = m["records"];
    if (!Array.isArray(records)) throw new Problem(["records"], "expected an array");
    if (records.length < 1) throw new Problem(["records"], "expected at least 1 item");
    if (records.length > 1000) throw new Problem(["records"], "more than 1000 items");
    for (let i = 0; i < records.length; i++) record(records[i], ["records", i]);
    known(m, [], MESSAGE_KEYS);
    return { success: true, data: value as RecordBatchMessage };
  } catch (err) {
    if (err instanceof Problem) return { success: false, path: err.path, message: err.message };
    throw err;
  }
}
