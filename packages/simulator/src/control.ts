import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { AccountSpec, QuotaPatch } from "./accounts.ts";
import { UnknownAccountError } from "./core.ts";
import { type FaultMatch, isFault } from "./faults.ts";
import type { RequestFilter } from "./request-log.ts";
import type { Simulator } from "./simulator.ts";

/**
 * The control API: plain JSON over HTTP on its own port, so no request a gateway forwards to the backend
 * origin can reach it. Every route maps to one Simulator method (see README).
 */

class BadInput extends Error {}

type Json = Record<string, unknown>;
type Route = (sim: Simulator, body: Json, params: string[], query: URLSearchParams) => unknown;

const num = (v: unknown, name: string): number => {
  if (typeof v !== "number" || !Number.isFinite(v)) throw new BadInput(`${name} must be a number`);
  return v;
};
const str = (v: unknown, name: string): string => {
  if (typeof v !== "string" || v === "") throw new BadInput(`${name} must be a non-empty string`);
  return v;
};

const ok = { ok: true };

const routes: [string, RegExp, Route][] = [
  ["GET", /^\/health$/, () => ok],
  [
    "GET",
    /^\/state$/,
    (sim) => ({ now: sim.now(), accounts: sim.accounts, faults: sim.pendingFaults(), stats: sim.stats() }),
  ],
  ["GET", /^\/stats$/, (sim) => sim.stats()],
  ["GET", /^\/accounts$/, (sim) => sim.accounts],
  ["POST", /^\/accounts$/, (sim, body) => sim.addAccount(body as AccountSpec)],
  ["GET", /^\/accounts\/([^/]+)$/, (sim, _b, [id]) => sim.account(id!)],
  ["GET", /^\/accounts\/([^/]+)\/auth-json$/, (sim, _b, [id]) => sim.authJson(id!)],
  [
    "POST",
    /^\/accounts\/([^/]+)\/auth-file$/,
    (sim, body, [id]) => ({
      authFile: sim.writeAuthFile(id!, typeof body["path"] === "string" ? body["path"] : undefined),
    }),
  ],
  [
    "POST",
    /^\/accounts\/([^/]+)\/quota$/,
    (sim, body, [id]) => {
      sim.setQuota(id!, body as QuotaPatch);
      return sim.account(id!);
    },
  ],
  [
    "POST",
    /^\/accounts\/([^/]+)\/exhaust$/,
    (sim, body, [id]) => {
      sim.exhaust(id!, body["window"] === "secondary" ? "secondary" : "primary");
      return sim.account(id!);
    },
  ],
  [
    "POST",
    /^\/accounts\/([^/]+)\/expire-token$/,
    (sim, _b, [id]) => {
      sim.expireAccessToken(id!);
    },
  ],
  [
    "POST",
    /^\/accounts\/([^/]+)\/invalidate-token$/,
    (sim, _b, [id]) => {
      sim.invalidateAccessToken(id!);
    },
  ],
  [
    "POST",
    /^\/accounts\/([^/]+)\/stale-token$/,
    (sim, _b, [id]) => ({ accessToken: sim.staleAccessToken(id!) }),
  ],
  [
    "POST",
    /^\/accounts\/([^/]+)\/deactivate$/,
    (sim, _b, [id]) => {
      sim.deactivate(id!);
    },
  ],
  [
    "POST",
    /^\/accounts\/([^/]+)\/reactivate$/,
    (sim, _b, [id]) => {
      sim.reactivate(id!);
    },
  ],
  [
    "POST",
    /^\/accounts\/([^/]+)\/revoke-refresh-token$/,
    (sim, _b, [id]) => {
      sim.revokeRefreshToken(id!);
    },
  ],
  [
    "POST",
    /^\/accounts\/([^/]+)\/expire-refresh-token$/,
    (sim, _b, [id]) => {
      sim.expireRefreshToken(id!);
    },
  ],
  [
    "POST",
    /^\/accounts\/([^/]+)\/models$/,
    (sim, body, [id]) => {
      const models = body["models"];
      if (!Array.isArray(models) || !models.every((m) => typeof m === "string"))
        throw new BadInput("models must be a string array");
      sim.setModels(id!, models as string[]);
      return sim.account(id!);
    },
  ],
  [
    "POST",
    /^\/accounts\/([^/]+)\/concurrency$/,
    (sim, body, [id]) => {
      sim.setConcurrencyCap(id!, num(body["cap"], "cap"));
      return sim.account(id!);
    },
  ],
  [
    "POST",
    /^\/faults$/,
    (sim, body) => {
      if (!isFault(body["fault"]))
        throw new BadInput("fault must be an object with a known kind and its fields");
      const match = (body["match"] ?? {}) as FaultMatch;
      const count = body["count"] === undefined ? undefined : num(body["count"], "count");
      return sim.injectFault(body["fault"], count === undefined ? match : { ...match, count });
    },
  ],
  ["GET", /^\/faults$/, (sim) => sim.pendingFaults()],
  [
    "DELETE",
    /^\/faults$/,
    (sim) => {
      sim.clearFaults();
    },
  ],
  ["GET", /^\/clock$/, (sim) => ({ now: sim.now() })],
  [
    "POST",
    /^\/clock\/advance$/,
    (sim, body) => {
      sim.advanceClock(num(body["seconds"], "seconds"));
      return { now: sim.now() };
    },
  ],
  [
    "POST",
    /^\/clock\/set$/,
    (sim, body) => {
      sim.setClock(num(body["now"], "now"));
      return { now: sim.now() };
    },
  ],
  [
    "GET",
    /^\/requests$/,
    (sim, _b, _p, q) => {
      const f: RequestFilter = {};
      const path = q.get("path");
      const account = q.get("accountId");
      const transport = q.get("transport");
      const since = q.get("since");
      if (path) f.path = path;
      if (account) f.accountId = account;
      if (transport === "http" || transport === "ws") f.transport = transport;
      if (since) f.sinceSeq = Number(since);
      return sim.requests(f);
    },
  ],
  [
    "DELETE",
    /^\/requests$/,
    (sim) => {
      sim.clearRequests();
    },
  ],
  ["GET", /^\/refreshes$/, (sim) => sim.refreshEvents()],
  [
    "POST",
    /^\/device\/approve$/,
    (sim, body) => {
      const approved = sim.approveDeviceCode(
        str(body["userCode"], "userCode"),
        typeof body["accountId"] === "string" ? body["accountId"] : undefined,
      );
      if (!approved) throw new BadInput("no pending device code with that user code");
      return ok;
    },
  ],
  [
    "POST",
    /^\/login-account$/,
    (sim, body) => {
      sim.setLoginAccount(str(body["accountId"], "accountId"));
    },
  ],
];

async function readJson(req: IncomingMessage): Promise<Json> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  if (chunks.length === 0) return {};
  const text = Buffer.concat(chunks).toString("utf8");
  if (text.trim() === "") return {};
  const v: unknown = JSON.parse(text);
  if (v === null || typeof v !== "object" || Array.isArray(v))
    throw new BadInput("body must be a JSON object");
  return v as Json;
}

function send(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
  res.end(body);
}

export async function startControlServer(
  sim: Simulator,
  host: string,
  port: number,
): Promise<{ port: number; close(): Promise<void> }> {
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://control");
    try {
      for (const [method, pattern, route] of routes) {
        if (req.method !== method) continue;
        const m = pattern.exec(url.pathname);
        if (!m) continue;
        const body = method === "GET" ? {} : await readJson(req);
        const params = m.slice(1).map((p) => decodeURIComponent(p));
        send(res, 200, route(sim, body, params, url.searchParams) ?? ok);
        return;
      }
      send(res, 404, { error: "not_found", message: `${req.method} ${url.pathname} is not a control route` });
    } catch (e) {
      if (e instanceof UnknownAccountError) send(res, 404, { error: "unknown_account", message: e.message });
      else if (e instanceof BadInput || e instanceof SyntaxError || e instanceof RangeError) {
        send(res, 400, { error: "bad_request", message: e.message });
      } else {
        console.error("simulator control: route failed", e);
        send(res, 500, { error: "internal", message: "control route failed" });
      }
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
