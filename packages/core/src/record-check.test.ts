import { describe, expect, it } from "vitest";
import { recordBatchMessageSchema } from "./accounting.ts";
import { checkRecordBatchMessage } from "./record-check.ts";

const usage = () => ({
  inputTokens: 10,
  cachedInputTokens: 2,
  outputTokens: 5,
  reasoningTokens: 1,
  totalTokens: 15,
});
const attempt = (n: number) => ({
  id: `att_${String(n).padStart(12, "0")}`,
  attemptNo: n,
  accountId: "acct_0123456789ab",
  status: "succeeded",
  httpStatus: 200,
  errorCode: null,
  startedAt: 1_796_400_000_000,
  ttfbMs: 1.5,
  durationMs: 3,
  usage: usage(),
});
const record = (n: number) => ({
  id: `req_${String(n).padStart(12, "0")}`,
  poolId: "pool_0123456789ab",
  apiKeyId: "key_0123456789ab",
  accountId: "acct_0123456789ab",
  model: "gpt-5.4",
  route: "codex_responses",
  transport: "http_sse",
  status: "succeeded",
  httpStatus: 200,
  errorCode: null,
  clientOriginator: "codex_cli_rs",
  startedAt: 1_796_400_000_000,
  completedAt: 1_796_400_000_004,
  ttfbMs: 1,
  durationMs: 4,
  gatewayOverheadMs: 0,
  usage: usage(),
  attempts: [attempt(1)],
});
const message = () => ({ v: 1, records: [record(1), { ...record(2), usage: null, attempts: [] }] });

/** Every value a field is set to in the single-change cases. */
const VALUES: unknown[] = [
  null,
  "",
  "x",
  "x".repeat(65),
  "x".repeat(201),
  "req_0123456789ab",
  "a b",
  "succeeded",
  "retryable_failed",
  "rejected",
  "websocket",
  0,
  -0,
  -1,
  0.5,
  1,
  99,
  100,
  101,
  599,
  600,
  2_000_000_000,
  2_000_000_001,
  2 ** 53,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  true,
  [],
  {},
  { inputTokens: 1 },
];

type Json = Record<string, unknown>;

/** Paths to every field of the base message (objects and arrays included). */
function fieldPaths(v: unknown, path: Array<string | number> = []): Array<Array<string | number>> {
  if (typeof v !== "object" || v === null) return [];
  const out: Array<Array<string | number>> = [];
  for (const [k, child] of Object.entries(v)) {
    const p = [...path, Array.isArray(v) ? Number(k) : k];
    out.push(p, ...fieldPaths(child, p));
  }
  return out;
}

function setAt(root: unknown, path: Array<string | number>, value: unknown, remove = false): void {
  let o = root as Json;
  for (const k of path.slice(0, -1)) o = o[k as string] as Json;
  const last = path[path.length - 1] as string;
  if (remove) delete o[last];
  else o[last] = value;
}

function zodVerdict(v: unknown) {
  const r = recordBatchMessageSchema.safeParse(v);
  return r.success ? { success: true } : { success: false, path: r.error.issues[0]?.path };
}

function ours(v: unknown) {
  const r = checkRecordBatchMessage(v);
  return r.success ? { success: true } : { success: false, path: r.path };
}

describe("checkRecordBatchMessage agrees with recordBatchMessageSchema", () => {
  it("accepts the valid message and hands back the value itself", () => {
    const m = message();
    const r = checkRecordBatchMessage(m);
    expect(r).toEqual({ success: true, data: m });
    expect(r.success && r.data).toBe(m);
    expect(zodVerdict(m).success).toBe(true);
  });

  it("on every single change of every field: same verdict and the same path", () => {
    const paths = fieldPaths(message());
    let cases = 0;
    let refused = 0;
    for (const path of paths) {
      for (const value of [...VALUES, undefined]) {
        const m = message();
        setAt(m, path, value, value === undefined);
        const expected = zodVerdict(m);
        expect({ path, value, ...ours(m) }).toEqual({ path, value, ...expected });
        cases++;
        if (!expected.success) refused++;
      }
    }
    // The cases are not vacuous: most changes are refusals, some are accepted.
    expect(cases).toBeGreaterThan(1500);
    expect(refused).toBeGreaterThan(cases / 2);
    expect(refused).toBeLessThan(cases);
  });

  it("refuses an unknown key at every level, the __proto__ key JSON.parse creates included", () => {
    const objects: Array<Array<string | number>> = [
      [],
      ["records", 0],
      ["records", 0, "usage"],
      ["records", 0, "attempts", 0],
      ["records", 0, "attempts", 0, "usage"],
    ];
    for (const path of objects) {
      for (const key of ["prompt", "__proto__", "constructor"]) {
        const m = message();
        const target = path.reduce<Json>((o, k) => o[k as string] as Json, m as Json);
        const text = JSON.stringify(target).replace(/^\{/, `{${JSON.stringify(key)}:"x",`);
        if (path.length === 0) {
          const parsed = JSON.parse(text);
          expect(ours(parsed)).toEqual({ success: false, path: [] });
          expect(zodVerdict(parsed)).toEqual({ success: false, path: [] });
        } else {
          setAt(m, path, JSON.parse(text));
          expect(ours(m)).toEqual({ success: false, path });
          expect(zodVerdict(m)).toEqual({ success: false, path });
        }
      }
    }
  });

  it("names the field that is wrong, never the message's content", () => {
    const m = message() as Json;
    (m["records"] as Json[])[0]!["secret prompt text"] = "more secret text";
    const r = checkRecordBatchMessage(m);
    expect(r).toEqual({ success: false, path: ["records", 0], message: "unrecognized key" });
    const n = message() as Json;
    (n["records"] as Json[])[1]!["errorCode"] = "secret prompt text";
    const q = checkRecordBatchMessage(n);
    expect(q).toEqual({ success: false, path: ["records", 1, "errorCode"], message: "invalid format" });
  });

  it("on the size limits of records and attempts", () => {
    const sized = (records: number, attempts: number) => ({
      v: 1,
      records: Array.from({ length: records }, (_, i) => ({
        ...record(i),
        attempts: Array.from({ length: attempts }, (_, j) => attempt(Math.min(j + 1, 100))),
      })),
    });
    for (const [r, a] of [
      [0, 1],
      [1, 0],
      [1000, 1],
      [1001, 1],
      [1, 100],
      [1, 101],
    ] as const) {
      const m = sized(r, a);
      expect({ r, a, ...ours(m) }).toEqual({ r, a, ...zodVerdict(m) });
    }
    expect(ours(sized(1001, 1)).success).toBe(false);
    expect(ours(sized(1, 101)).success).toBe(false);
  });

  it("on random combinations of changes (same verdict)", () => {
    const paths = fieldPaths(message());
    let seed = 7;
    const rand = (n: number) => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed % n;
    };
    let accepted = 0;
    for (let i = 0; i < 3000; i++) {
      const m = message();
      for (let k = 1 + rand(3); k > 0; k--) {
        const path = paths[rand(paths.length)]!;
        // Earlier changes may have removed this path's parent.
        try {
          const r = rand(6);
          // Half the changes put back a valid value (from a fresh message), so some messages pass.
          const value =
            r < 3
              ? path.reduce<unknown>((o, k) => (o as Json)[k as string], message())
              : r === 3
                ? undefined
                : VALUES[rand(VALUES.length)];
          setAt(m, path, value, value === undefined);
        } catch {
          // skip
        }
      }
      const expected = zodVerdict(m).success;
      expect(ours(m).success).toBe(expected);
      if (expected) accepted++;
    }
    expect(accepted).toBeGreaterThan(100);
    expect(accepted).toBeLessThan(2900);
  });

  it("refuses what is not a message at all", () => {
    for (const v of [
      null,
      1,
      "x",
      [],
      [{}],
      { v: 1 },
      { v: "1", records: [record(1)] },
      { v: 1, records: {} },
    ])
      expect({ v, ...ours(v) }).toEqual({ v, ...zodVerdict(v) });
  });
});
