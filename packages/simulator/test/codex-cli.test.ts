import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Simulator, startSimulator } from "../src/index.ts";
import { type CodexRun, providerConfig, removeHome, runCodex } from "./support/codex.ts";

// Acceptance: the real Codex CLI (npm @openai/codex) pointed directly at the simulator.

const TOOL_MARKER = "sim-tool-output-7f3a";
const TOOL_PROMPT = `Run the command please.\nsim: tool exec_command {"cmd":"echo ${TOOL_MARKER}"}`;

function agentMessages(run: CodexRun): string[] {
  return run.events
    .filter((e) => e["type"] === "item.completed")
    .map((e) => e["item"] as Record<string, unknown>)
    .filter((i) => i["type"] === "agent_message")
    .map((i) => String(i["text"]));
}

function expectSuccess(run: CodexRun): void {
  if (run.code !== 0) throw new Error(`codex exited ${run.code}\n${run.stdout}\n${run.stderr}`);
  expect(run.events.some((e) => e["type"] === "turn.completed")).toBe(true);
}

describe("Codex CLI with an API-key provider pointed at the simulator", () => {
  let sim: Simulator;
  const runs: CodexRun[] = [];

  beforeAll(async () => {
    sim = await startSimulator({ accounts: 2 });
  });
  afterAll(async () => {
    for (const r of runs) removeHome(r);
    await sim.close();
  });

  for (const websockets of [false, true]) {
    it(`completes a plain turn and a tool turn over ${websockets ? "websocket" : "HTTP SSE"}`, async () => {
      const account = sim.accounts[websockets ? 1 : 0]!;
      const env = { SIM_ACCESS_TOKEN: account.accessToken };
      const config = providerConfig(sim.baseUrl, websockets);
      const [plain, tool] = await Promise.all([
        runCodex({ config, env, prompt: "sim: reply PONG" }),
        runCodex({ config, env, prompt: TOOL_PROMPT, args: ["--dangerously-bypass-approvals-and-sandbox"] }),
      ]);
      runs.push(plain, tool);
      expectSuccess(plain);
      expect(plain.lastMessage.trim()).toBe("PONG");
      expect(agentMessages(plain)).toEqual(["PONG"]);

      expectSuccess(tool);
      const commands = tool.events
        .filter((e) => e["type"] === "item.completed")
        .map((e) => e["item"] as Record<string, unknown>)
        .filter((i) => i["type"] === "command_execution");
      expect(commands.length).toBe(1);
      expect(String(commands[0]!["aggregated_output"] ?? "")).toContain(TOOL_MARKER);
      expect(tool.lastMessage).toContain(TOOL_MARKER);

      const log = sim.requests({ accountId: account.id, transport: websockets ? "ws" : "http" });
      const turns = log.filter((e) => e.method !== "GET");
      const followUp = turns.find((e) =>
        JSON.stringify((e.body as { input?: unknown }).input ?? "").includes("function_call_output"),
      );
      expect(followUp).toBeDefined();
      if (websockets) {
        const upgrades = log.filter((e) => e.method === "GET");
        expect(upgrades.length).toBe(2);
        expect(upgrades.every((u) => u.status === 101)).toBe(true);
        expect(upgrades[0]!.headers["openai-beta"]).toContain("responses_websockets");
        const bodies = turns.map((e) => e.body as Record<string, unknown>);
        // Per socket: a prewarm without generation, then turns chained by previous_response_id.
        expect(bodies.filter((b) => b["generate"] === false).length).toBe(2);
        const chained = bodies.filter((b) => typeof b["previous_response_id"] === "string");
        expect(chained.length).toBeGreaterThanOrEqual(3);
        expect(turns.every((e) => e.outcome === "completed")).toBe(true);
        // The tool follow-up carries only the new item, chained to the response that asked for the call.
        const fu = followUp!.body as { input: { type: string }[]; previous_response_id: string };
        expect(fu.input.map((i) => i.type)).toEqual(["function_call_output"]);
        expect(turns.some((e) => e.responseId === fu.previous_response_id)).toBe(true);
      } else {
        expect(turns.length).toBe(3);
        expect(turns.every((e) => e.status === 200 && e.outcome === "completed")).toBe(true);
        // Over HTTP the follow-up replays the whole history, including our reasoning blob and the call.
        const types = ((followUp!.body as { input: { type: string }[] }).input ?? []).map((i) => i.type);
        expect(types).toEqual(expect.arrayContaining(["reasoning", "function_call", "function_call_output"]));
      }
    });
  }
});
