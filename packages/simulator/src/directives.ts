import { type Fault, parseFaultWords } from "./faults.ts";

/**
 * The directive language read from the latest user message: every line of the form `sim: <command> …` is a
 * directive; other text is ignored. See the package README for the full table.
 */

export interface ToolCallDirective {
  type: "function" | "custom";
  name: string;
  /** Function: the JSON arguments text. Custom tool: the free-form input. */
  payload: string;
}

export interface UsageOverride {
  input?: number;
  cached?: number;
  output?: number;
  reasoning?: number;
}

export interface Directives {
  reply?: string;
  tools: ToolCallDirective[];
  tokens?: number;
  delayFirstMs?: number;
  delayEventsMs?: number;
  keepaliveMs?: number;
  fail?: { fault: Fault; times?: number; line: string };
  reasoning?: string;
  noReasoning?: boolean;
  echoSession?: boolean;
  bigEventBytes?: number;
  usage?: UsageOverride;
  /** Problems found while parsing; they become the answer so the test author sees them. */
  errors: string[];
}

const LINE = /^[ \t]*sim:[ \t]*([A-Za-z][\w-]*)[ \t]*(.*?)[ \t]*$/;
const MAX_TOKENS = 2_000_000;
const MAX_BIG_EVENT = 64 * 1024 * 1024;

/** `"…"` (a JSON string) is decoded, so replies can carry newlines; anything else is taken verbatim. */
function textArg(raw: string): string {
  if (raw.length >= 2 && raw.startsWith('"') && raw.endsWith('"')) {
    try {
      const v: unknown = JSON.parse(raw);
      if (typeof v === "string") return v;
    } catch {
      // not a JSON string: keep it as typed
    }
  }
  return raw;
}

function intArg(raw: string | undefined, min: number, max: number): number | undefined {
  if (raw === undefined || !/^\d+$/.test(raw)) return undefined;
  const n = Number(raw);
  return n >= min && n <= max ? n : undefined;
}

/** Returns undefined when the text holds no directive (the common, cheap case). */
export function parseDirectives(text: string): Directives | undefined {
  if (!text.includes("sim:")) return undefined;
  let d: Directives | undefined;
  for (const line of text.split("\n")) {
    const m = LINE.exec(line.replace(/\r$/, ""));
    if (!m) continue;
    d ??= { tools: [], errors: [] };
    applyDirective(d, m[1]!.toLowerCase(), m[2] ?? "", line.trim());
  }
  return d;
}

function applyDirective(d: Directives, command: string, rest: string, line: string): void {
  const words = rest.split(/\s+/).filter((w) => w.length > 0);
  switch (command) {
    case "reply":
      d.reply = textArg(rest);
      return;
    case "tool": {
      let name = "exec_command";
      let args = rest;
      const sp = /^([A-Za-z_][\w.-]*)\s*(.*)$/s.exec(rest);
      if (sp && !rest.startsWith("{")) {
        name = sp[1]!;
        args = sp[2] ?? "";
      }
      if (args === "") args = "{}";
      try {
        JSON.parse(args);
      } catch {
        d.errors.push(`sim: tool ${name}: arguments are not valid JSON`);
        return;
      }
      d.tools.push({ type: "function", name, payload: args });
      return;
    }
    case "custom-tool": {
      const sp = /^([A-Za-z_][\w.-]*)\s*(.*)$/s.exec(rest);
      if (!sp) {
        d.errors.push("sim: custom-tool needs a tool name");
        return;
      }
      d.tools.push({ type: "custom", name: sp[1]!, payload: textArg(sp[2] ?? "") });
      return;
    }
    case "tokens": {
      const n = intArg(words[0], 1, MAX_TOKENS);
      if (n === undefined) d.errors.push(`sim: tokens needs a count between 1 and ${MAX_TOKENS}`);
      else d.tokens = n;
      return;
    }
    case "delay-first": {
      const ms = intArg(words[0], 0, 3_600_000);
      if (ms === undefined) d.errors.push("sim: delay-first needs milliseconds");
      else d.delayFirstMs = ms;
      return;
    }
    case "delay-events": {
      const ms = intArg(words[0], 0, 3_600_000);
      if (ms === undefined) {
        d.errors.push("sim: delay-events needs milliseconds");
        return;
      }
      d.delayEventsMs = ms;
      const ka = intArg(words[1], 1, 3_600_000);
      if (ka !== undefined) d.keepaliveMs = ka;
      return;
    }
    case "fail": {
      let times: number | undefined;
      const faultWords: string[] = [];
      for (const w of words) {
        const t = /^times=(\d+)$/.exec(w);
        if (t) times = Number(t[1]);
        else faultWords.push(w);
      }
      const fault = parseFaultWords(faultWords);
      if (typeof fault === "string") {
        d.errors.push(fault);
        return;
      }
      d.fail = times === undefined ? { fault, line } : { fault, times, line };
      return;
    }
    case "reasoning":
      d.reasoning = textArg(rest) || "Thinking";
      return;
    case "no-reasoning":
      d.noReasoning = true;
      return;
    case "echo-session":
      d.echoSession = true;
      return;
    case "big-event": {
      const n = intArg(words[0], 1, MAX_BIG_EVENT);
      if (n === undefined) d.errors.push("sim: big-event needs a byte count");
      else d.bigEventBytes = n;
      return;
    }
    case "usage": {
      const u: UsageOverride = {};
      for (const w of words) {
        const m = /^(input|cached|output|reasoning)=(\d+)$/.exec(w);
        if (!m) {
          d.errors.push(`sim: usage: cannot read '${w}'`);
          continue;
        }
        u[m[1] as keyof UsageOverride] = Number(m[2]);
      }
      d.usage = u;
      return;
    }
    default:
      d.errors.push(`sim: unknown directive '${command}'`);
  }
}
