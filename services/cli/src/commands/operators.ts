/**
 * Operator commands: pools, upstream accounts and Pool API keys. They use
 * the same configuration as `serve` (DATABASE_URL, or the embedded database
 * — which they reach through a running `serve` when there is one).
 */
import { readFile } from "node:fs/promises";
import { SecretBox } from "@codex-pooler/adapters";
import {
  type ControlContext,
  ControlError,
  createKey,
  createPool,
  importAccount,
  poolStatus,
  setKeyStatus,
} from "@codex-pooler/control";
import type { DatabaseHandle } from "@codex-pooler/db";
import { migrate } from "@codex-pooler/db";
import { createUpstreamAgent } from "@codex-pooler/upstream";
import type { Command } from "commander";
import { openDatabaseFor, rootKeysFor } from "../resources.ts";
import { CliError, cliLogger, configOrExit, dbLoggerFrom, EXIT_USAGE, printJson } from "../runtime.ts";

async function withDatabase<T>(
  name: string,
  fn: (handle: DatabaseHandle, ctx: ControlContext) => Promise<T>,
): Promise<T> {
  const config = configOrExit();
  const logger = cliLogger(config, name);
  const handle = await openDatabaseFor(config, logger);
  try {
    // The embedded database belongs to this install: bring it up to date like `serve` does.
    if (handle.engine === "embedded") await migrate(handle, { logger: dbLoggerFrom(logger) });
    return await fn(handle, { db: handle.db, actor: { type: "cli", id: process.env["USER"] ?? undefined } });
  } catch (err) {
    if (err instanceof ControlError) throw new CliError(`${err.message} (${err.code})`, EXIT_USAGE);
    if (/relation ".*" does not exist/.test(String((err as Error)?.message))) {
      throw new CliError("the database has no schema yet: run `codex-pooler migrate` first");
    }
    throw err;
  } finally {
    await handle.close();
  }
}

function intOption(name: string) {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n)) throw new CliError(`${name} must be a whole number`, EXIT_USAGE);
    return n;
  };
}

function percentBar(used: number): string {
  const width = 20;
  const filled = Math.round((Math.min(100, Math.max(0, used)) / 100) * width);
  return `[${"#".repeat(filled)}${".".repeat(width - filled)}] ${used.toFixed(0).padStart(3)}%`;
}

export function registerOperatorCommands(program: Command): void {
  const pool = program.command("pool").description("Manage pools of upstream accounts.");

  pool
    .command("create")
    .description("Create a pool.")
    .requiredOption("--name <name>", "pool name (letters, digits, '.', '_', '-')")
    .option(
      "--strategy <strategy>",
      "quota_first | least_recently_used | deterministic_rotation",
      "quota_first",
    )
    .option("--ring-size <n>", "candidates one request may try (1–16)", intOption("--ring-size"), 3)
    .option(
      "--pinned-failover <policy>",
      "move | refuse: what happens to a thread whose account became unusable",
      "move",
    )
    .option("--no-v1", "turn the OpenAI-compatible /v1 surface off for this pool")
    .option("--json", "print the result as JSON")
    .action(
      async (opts: {
        name: string;
        strategy: string;
        ringSize: number;
        pinnedFailover: string;
        v1: boolean;
        json?: boolean;
      }) => {
        const created = await withDatabase("pool", (_h, ctx) =>
          createPool(ctx, {
            name: opts.name,
            routingStrategy: opts.strategy as never,
            ringSize: opts.ringSize,
            pinnedFailover: opts.pinnedFailover as never,
            v1Enabled: opts.v1,
          }),
        );
        if (opts.json) printJson(created);
        else
          process.stdout.write(
            `Created pool ${created.name} (${created.id}), strategy ${created.routingStrategy}.\n`,
          );
      },
    );

  pool
    .command("status")
    .description("Show a pool's accounts, their states and quota windows.")
    .argument("<pool>", "pool name or id")
    .option("--json", "print the result as JSON")
    .action(async (name: string, opts: { json?: boolean }) => {
      const status = await withDatabase("pool", (h) => poolStatus(h.db, name));
      if (opts.json) {
        printJson(status);
        return;
      }
      const p = status.pool;
      const lines = [
        `Pool ${p.name} (${p.id}) — ${p.status}, strategy ${p.routingStrategy}, ring ${p.ringSize}, pinned threads: ${p.pinnedFailover}, /v1 ${p.v1Enabled ? "on" : "off"}`,
        `Keys: ${status.keys.active} active of ${status.keys.total}`,
        `Accounts: ${status.accounts.length}`,
      ];
      for (const a of status.accounts) {
        lines.push(
          `  ${a.id}  ${a.label ?? a.email ?? ""}  plan ${a.planType ?? "?"}  ${a.status}${a.assignment === "active" ? "" : ` (assignment ${a.assignment})`}  models ${a.models}`,
        );
        for (const w of a.windows.filter((x) => x.limitId === "codex")) {
          lines.push(
            `      ${w.kind.padEnd(9)} ${percentBar(w.usedPercent)}  resets ${w.resetAt ?? "?"}  (${w.source})`,
          );
        }
        if (a.windows.length === 0) lines.push("      quota: no evidence yet");
      }
      process.stdout.write(`${lines.join("\n")}\n`);
    });

  const account = program.command("account").description("Manage upstream ChatGPT/Codex accounts.");
  account
    .command("import")
    .description(
      "Import an account from a Codex CLI auth.json (ChatGPT login) into a pool. After import the pool owns the " +
        "refresh token: do not keep using the same auth.json elsewhere, or its rotation will log one of you out.",
    )
    .requiredOption("--pool <pool>", "pool name or id")
    .requiredOption("--auth-json <file>", "path to auth.json (or - for standard input)")
    .option("--label <label>", "a label for operators")
    .option("--no-probe", "do not fetch the account's model catalog and usage from the upstream")
    .option(
      "--replace",
      "overwrite the tokens of an account the gateway has already refreshed (after a new login)",
    )
    .option("--json", "print the result as JSON")
    .action(
      async (opts: {
        pool: string;
        authJson: string;
        label?: string;
        probe: boolean;
        replace?: boolean;
        json?: boolean;
      }) => {
        let text: string;
        try {
          text = opts.authJson === "-" ? await readStdin() : await readFile(opts.authJson, "utf8");
        } catch {
          throw new CliError(`cannot read --auth-json ${opts.authJson}`, EXIT_USAGE);
        }
        const config = configOrExit();
        const keys = await rootKeysFor(config);
        const agent = opts.probe ? createUpstreamAgent() : undefined;
        try {
          const imported = await withDatabase("account", (_h, ctx) =>
            importAccount(ctx, {
              poolNameOrId: opts.pool,
              authJsonText: text,
              sealer: new SecretBox({ keys: [keys.upstream] }),
              ...(opts.replace ? { replace: true } : {}),
              ...(opts.label ? { label: opts.label } : {}),
              ...(agent ? { upstream: { baseUrl: config.upstream.baseUrl, agent } } : {}),
            }),
          );
          if (opts.json) printJson(imported);
          else
            process.stdout.write(
              `${imported.created ? "Imported" : "Re-imported"} account ${imported.id} (${imported.email ?? imported.chatgptAccountId}, plan ${imported.planType ?? "unknown"}) into ${opts.pool}; ` +
                `${imported.models} models, quota ${imported.quotaKnown ? "known" : "unknown until first use"}.\n`,
            );
        } finally {
          await agent?.close();
        }
      },
    );

  const key = program.command("key").description("Manage Pool API keys.");
  key
    .command("create")
    .description("Create a Pool API key. The key is printed once and cannot be shown again.")
    .requiredOption("--pool <pool>", "pool name or id")
    .option("--name <name>", "a name for operators")
    .option("--json", "print the result as JSON (the key is the field `key`)")
    .action(async (opts: { pool: string; name?: string; json?: boolean }) => {
      const created = await withDatabase("key", (_h, ctx) =>
        createKey(ctx, { poolNameOrId: opts.pool, ...(opts.name ? { name: opts.name } : {}) }),
      );
      if (opts.json) printJson(created);
      else {
        process.stdout.write(`${created.key}\n`);
        process.stderr.write(
          `Created key ${created.prefix} for pool ${opts.pool}. Store it now: it is not shown again.\n`,
        );
      }
    });

  for (const [verb, status, help] of [
    ["revoke", "revoked", "Revoke a key for good (every gateway refuses it within 5 s)."],
    ["pause", "paused", "Pause a key (refused until resumed)."],
    ["resume", "active", "Resume a paused key."],
  ] as const) {
    key
      .command(verb)
      .description(help)
      .argument("<key>", "key id (key_…) or prefix (sk-cxp-…)")
      .option("--json", "print the result as JSON")
      .action(async (which: string, opts: { json?: boolean }) => {
        await withDatabase("key", (_h, ctx) => setKeyStatus(ctx, which, status));
        if (opts.json) printJson({ key: which, status });
        else process.stdout.write(`Key ${which} is now ${status}.\n`);
      });
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}
