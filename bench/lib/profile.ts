/**
 * Summarizes a V8 `.cpuprofile` (from `node --cpu-prof`): self time per
 * function and per code area (a package under node_modules, a workspace
 * package, or V8's own buckets such as the garbage collector), idle excluded.
 */
import { readFileSync } from "node:fs";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileLine {
  name: string;
  where: string;
  selfMs: number;
  share: number;
}

export interface ProfileSummary {
  busyMs: number;
  functions: ProfileLine[];
  areas: ProfileLine[];
  /** Project functions by inclusive time (their own time plus everything they called). */
  inclusive: ProfileLine[];
}

const PROJECT = /\/(packages|services|functions)\//;

/** `node_modules/undici/lib/x.js` → `undici`; `/repo/services/gateway/src/relay/x.ts` → `services/gateway/src/relay/x.ts`. */
export function areaOf(url: string, name: string): string {
  if (!url) return name.startsWith("(") ? name : "(native)";
  const path = url.replace(/^file:\/\//, "");
  const nm = path.lastIndexOf("node_modules/");
  if (nm >= 0) {
    const rest = path.slice(nm + "node_modules/".length).split("/");
    return rest[0]?.startsWith("@") ? `${rest[0]}/${rest[1]}` : (rest[0] ?? path);
  }
  const m = /\/((?:packages|services|functions)\/[^/]+)\//.exec(path);
  if (m) return m[1]!;
  if (path.startsWith("node:")) return "node core";
  return path;
}

function shortPath(url: string): string {
  const path = url.replace(/^file:\/\//, "");
  const nm = path.lastIndexOf("node_modules/");
  if (nm >= 0) return path.slice(nm + "node_modules/".length);
  const m = /\/((?:packages|services|functions|bench)\/.*)$/.exec(path);
  return m ? m[1]! : path;
}

export function summarizeProfile(file: string, top = 30): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const fns = new Map<string, { name: string; where: string; us: number }>();
  const areas = new Map<string, number>();
  let busy = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === "(idle)") continue;
    busy += us;
    const name = functionName || "(anonymous)";
    const where = url ? `${shortPath(url)}:${lineNumber + 1}` : "";
    const key = `${name}@${where}`;
    const f = fns.get(key) ?? { name, where, us: 0 };
    f.us += us;
    fns.set(key, f);
    const area = areaOf(url, name);
    areas.set(area, (areas.get(area) ?? 0) + us);
  }
  // Inclusive time: each sample counts once for every distinct project function on its stack.
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const inclusive = new Map<string, { name: string; where: string; us: number }>();
  for (let i = 0; i < profile.samples.length; i++) {
    const leaf = byId.get(profile.samples[i]!);
    if (!leaf || leaf.callFrame.functionName === "(idle)") continue;
    const seen = new Set<string>();
    for (let id: number | undefined = leaf.id; id !== undefined; id = parent.get(id)) {
      const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
      if (!PROJECT.test(url) || url.includes("node_modules")) continue;
      const where = `${shortPath(url)}:${lineNumber + 1}`;
      const key = `${functionName}@${where}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const e = inclusive.get(key) ?? { name: functionName || "(anonymous)", where, us: 0 };
      e.us += profile.timeDeltas[i] ?? 0;
      inclusive.set(key, e);
    }
  }
  const line = (name: string, where: string, us: number): ProfileLine => ({
    name,
    where,
    selfMs: Math.round(us / 100) / 10,
    share: Math.round((us / busy) * 1000) / 10,
  });
  return {
    busyMs: Math.round(busy / 1000),
    functions: [...fns.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((f) => line(f.name, f.where, f.us)),
    areas: [...areas.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([a, us]) => line(a, "", us)),
    inclusive: [...inclusive.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((f) => line(f.name, f.where, f.us)),
  };
}

export function profileMarkdown(s: ProfileSummary): string {
  return [
    `Busy (non-idle) samples: ${s.busyMs} ms.`,
    "",
    "| self % | self ms | area |",
    "| ---: | ---: | --- |",
    ...s.areas.map((a) => `| ${a.share} | ${a.selfMs} | ${a.name} |`),
    "",
    "| self % | self ms | function | where |",
    "| ---: | ---: | --- | --- |",
    ...s.functions.map((f) => `| ${f.share} | ${f.selfMs} | ${f.name} | ${f.where} |`),
    "",
    "Project functions, inclusive time (what they and their callees cost):",
    "",
    "| incl. % | incl. ms | function | where |",
    "| ---: | ---: | --- | --- |",
    ...s.inclusive.map((f) => `| ${f.share} | ${f.selfMs} | ${f.name} | ${f.where} |`),
    "",
  ].join("\n");
}
