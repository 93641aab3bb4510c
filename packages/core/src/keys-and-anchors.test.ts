import { describe, expect, it } from "vitest";
import { bearerToken, generatePoolKey, parsePoolKey } from "./api-keys.ts";
import { boundOutputIds, extractAnchors, historyAnchors } from "./continuity.ts";
import { encodeSortable, newId } from "./ids.ts";

let counter = 0;
const random = {
  bytes: (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 37 + counter++) & 255),
};

describe("pool API keys", () => {
  it("generates keys that parse back to their prefix", () => {
    const key = generatePoolKey(random);
    expect(key.raw).toMatch(/^sk-cxp-[0-9a-f]{12}-[A-Za-z0-9_-]{43}$/);
    expect(parsePoolKey(key.raw)).toEqual(key);
  });

  it("rejects anything else", () => {
    for (const bad of [
      "",
      "sk-cxp-",
      "sk-cxp-zzzzzzzzzzzz-" + "a".repeat(43),
      "sk-abc",
      "sk-cxp-0123456789ab-short",
    ]) {
      expect(parsePoolKey(bad)).toBeUndefined();
    }
  });

  it("reads bearer tokens strictly", () => {
    expect(bearerToken("Bearer abc")).toBe("abc");
    expect(bearerToken("bearer abc ")).toBe("abc");
    expect(bearerToken("Basic abc")).toBeUndefined();
    expect(bearerToken("Bearer a b")).toBeUndefined();
    expect(bearerToken(undefined)).toBeUndefined();
  });
});

describe("ids", () => {
  it("are prefixed, 26 characters after the prefix, and sort by time", () => {
    const a = newId("req", { now: () => 1000 }, random);
    const b = newId("req", { now: () => 2000 }, random);
    expect(a).toMatch(/^req_[0-9a-hjkmnp-tv-z]{26}$/);
    expect(a < b).toBe(true);
    expect(encodeSortable(0, new Uint8Array(10))).toBe("0".repeat(26));
  });
});

describe("extractAnchors", () => {
  it("orders anchors strongest first and takes one session header", () => {
    const anchors = extractAnchors(
      { "session-id": "t1", "thread-id": "t1", "x-codex-turn-state": "ts", "x-codex-window-id": "t1:0" },
      { previous_response_id: "resp_9", prompt_cache_key: "t1" },
    );
    expect(anchors).toEqual([
      { kind: "turn_state", value: "ts" },
      { kind: "previous_response", value: "resp_9" },
      { kind: "session", value: "t1" },
      { kind: "window", value: "t1:0" },
      { kind: "prompt_cache", value: "t1" },
    ]);
  });

  it("ignores empty and oversized values", () => {
    expect(
      extractAnchors({ "session-id": " ", "x-session-id": "x".repeat(600) }, { prompt_cache_key: 5 }),
    ).toEqual([]);
  });
});

describe("history anchors", () => {
  it("anchor the latest account-bound items a client replays", () => {
    const input = [
      { type: "message", role: "user", content: [] },
      { type: "reasoning", id: "rs_1", encrypted_content: "x" },
      { type: "reasoning", id: "rs_summary_only", summary: [] },
      { type: "function_call", id: "fc_1", call_id: "c1", name: "f", arguments: "{}" },
      { type: "compaction", id: "cmp_1", encrypted_content: "y" },
    ];
    expect(historyAnchors(input)).toEqual([
      { kind: "history_item", value: "cmp_1" },
      { kind: "history_item", value: "rs_1" },
    ]);
    expect(extractAnchors({}, { input }).map((a) => a.kind)).toEqual(["history_item", "history_item"]);
    expect(historyAnchors("text input")).toEqual([]);
  });

  it("name the output items that only the producing account can read", () => {
    expect(
      boundOutputIds([
        { type: "reasoning", id: "rs_9" },
        { type: "message", id: "msg_1" },
        { type: "compaction", id: "cmp_2" },
        null,
      ]),
    ).toEqual(["rs_9", "cmp_2"]);
  });
});
