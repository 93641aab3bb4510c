import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseDirectives } from "./directives.ts";

describe("directive language", () => {
  it("finds nothing in ordinary text", () => {
    expect(parseDirectives("hello world")).toBeUndefined();
    expect(parseDirectives("mention sim: in the middle of a line")).toBeUndefined();
  });

  it("reads each directive line", () => {
    const d = parseDirectives(
      [
        "Please do this.",
        "sim: reply PONG",
        'sim: tool exec_command {"cmd":"echo hi"}',
        "sim: custom-tool apply_patch *** Begin Patch",
        "sim: delay-first 250",
        "sim: delay-events 20 5",
        "sim: reasoning **Planning**",
        "sim: usage input=1200 cached=1024 output=40 reasoning=16",
      ].join("\n"),
    );
    expect(d).toMatchObject({
      reply: "PONG",
      tools: [
        { type: "function", name: "exec_command", payload: '{"cmd":"echo hi"}' },
        { type: "custom", name: "apply_patch", payload: "*** Begin Patch" },
      ],
      delayFirstMs: 250,
      delayEventsMs: 20,
      keepaliveMs: 5,
      reasoning: "**Planning**",
      usage: { input: 1200, cached: 1024, output: 40, reasoning: 16 },
      errors: [],
    });
  });

  it("decodes JSON-string replies so they can span lines", () => {
    expect(parseDirectives('sim: reply "a\\nb"')?.reply).toBe("a\nb");
  });

  it("maps fail shorthands onto faults", () => {
    const fail = (w: string) => parseDirectives(`sim: fail ${w}`)?.fail?.fault;
    expect(fail("context_length_exceeded")).toEqual({
      kind: "response_failed",
      code: "context_length_exceeded",
    });
    expect(fail("max_output_tokens")).toEqual({ kind: "response_incomplete", reason: "max_output_tokens" });
    expect(fail("usage_limit_reached")).toEqual({ kind: "usage_limit" });
    expect(fail("429")).toEqual({ kind: "rate_limited" });
    expect(fail("502")).toEqual({ kind: "http_error", status: 502 });
    expect(fail("disconnect 4")).toEqual({ kind: "disconnect", afterEvents: 4 });
    expect(fail("token_expired")).toEqual({ kind: "token_expired" });
    expect(parseDirectives("sim: fail 500 times=1")?.fail).toMatchObject({
      times: 1,
      fault: { kind: "http_error", status: 500 },
    });
  });

  it("reports mistakes instead of ignoring them", () => {
    expect(parseDirectives("sim: tool exec_command {not json")?.errors[0]).toContain("not valid JSON");
    expect(parseDirectives("sim: tokens lots")?.errors[0]).toContain("tokens");
    expect(parseDirectives("sim: fail nonsense")?.errors[0]).toContain("unknown fault");
    expect(parseDirectives("sim: dance")?.errors[0]).toContain("unknown directive");
  });

  it("never throws on arbitrary text", () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (a, b) => {
        parseDirectives(`${a}\nsim: ${b}\n${a}`);
      }),
    );
  });
});
