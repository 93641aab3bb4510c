// The local AWS-protocol emulator (SQS + Secrets Manager) for machines without
// Docker. LocalStack's own runtime runs in host mode where a CPython 3.12/3.13
// is available; otherwise moto's standalone server stands in. Either is
// installed by the project into `.venv-emulator/` (see emulator/install.ts).
//
//   npm run emulator                 # 127.0.0.1:4566, provisions queues + secret, runs until Ctrl-C
//   npm run emulator -- --port 4570 --kind moto --no-provision
//   npm run emulator -- --install-only
//
// Tests call `startEmulator()` (a free port, logs to a file, stop() cleans up).
// CODEX_POOLER_EMULATOR=localstack|moto|auto picks the kind (default auto).
import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream, existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import {
  EmulatorInstallError,
  type EmulatorKind,
  ensureInstalled,
  type InstalledEmulator,
  localstackFailureMarker,
  REPO_ROOT,
} from "./emulator/install.ts";
import { progress } from "./emulator/log.ts";

export type { EmulatorKind } from "./emulator/install.ts";

export interface StartEmulatorOptions {
  /** Listen port; default: a free port chosen by the OS. */
  port?: number;
  /** Listen address; default 127.0.0.1. */
  host?: string;
  /** Default: CODEX_POOLER_EMULATOR, else "auto" (LocalStack, falling back to moto). */
  kind?: EmulatorKind | "auto";
  /** "file" (default) keeps the server's output in a log file; "inherit" copies it to stderr. */
  log?: "file" | "inherit";
  /** How long to wait for the server to answer SQS and Secrets Manager calls. Default 90 s. */
  readyTimeoutMs?: number;
}

export interface RunningEmulator {
  endpointUrl: string;
  kind: EmulatorKind;
  /** The server's output (when log is "file"); removed by stop(). */
  logFile: string | undefined;
  stop(): Promise<void>;
}

const LAUNCHER = fileURLToPath(new URL("./emulator/launch.py", import.meta.url));

class LaunchError extends Error {
  override name = "LaunchError";
}

function pickKind(kind: StartEmulatorOptions["kind"]): EmulatorKind | "auto" {
  const k = kind ?? process.env.CODEX_POOLER_EMULATOR ?? "auto";
  if (k !== "auto" && k !== "localstack" && k !== "moto") {
    throw new Error(`CODEX_POOLER_EMULATOR must be localstack, moto or auto (got ${JSON.stringify(k)})`);
  }
  return k;
}

/** Installs (if needed) and returns the emulator to use, applying the auto fallback. */
export async function resolveEmulator(kind?: StartEmulatorOptions["kind"]): Promise<InstalledEmulator> {
  const wanted = pickKind(kind);
  if (wanted !== "auto") return ensureInstalled(wanted);
  const marker = localstackFailureMarker();
  if (existsSync(marker)) {
    progress(`LocalStack did not work here before (${marker}); using moto. Delete that file to try again.`);
    return ensureInstalled("moto");
  }
  try {
    return await ensureInstalled("localstack");
  } catch (err) {
    if (!(err instanceof EmulatorInstallError)) throw err;
    // A failed install is slow to repeat: remember it. A missing Python is not.
    if (err.reason === "install_failed")
      await writeFile(marker, `${new Date().toISOString()}\n${err.message}\n`);
    progress(`LocalStack is not usable here: ${firstLine(err.message)}; falling back to moto`);
    return ensureInstalled("moto");
  }
}

function firstLine(text: string): string {
  return text.split("\n")[0] ?? text;
}

async function freePort(host: string): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      srv.close(() =>
        addr && typeof addr === "object" ? resolvePort(addr.port) : reject(new Error("no port")),
      );
    });
  });
}

async function assertPortFree(host: string, port: number): Promise<void> {
  await new Promise<void>((resolveFree, reject) => {
    const srv = createServer();
    srv.once("error", (err: NodeJS.ErrnoException) =>
      reject(
        err.code === "EADDRINUSE"
          ? new Error(`${host}:${port} is already in use (is an emulator already running there?)`)
          : err,
      ),
    );
    srv.listen(port, host, () => srv.close(() => resolveFree()));
  });
}

/** Environment for the server: ours, minus AWS settings meant for clients. */
function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith("AWS_") && !k.startsWith("LOCALSTACK_")) env[k] = v;
  }
  return { ...env, CODEX_POOLER_EMULATOR_PARENT: String(process.pid), PYTHONUNBUFFERED: "1", ...extra };
}

function commandFor(
  installed: InstalledEmulator,
  host: string,
  port: number,
  runDir: string,
): { args: string[]; env: NodeJS.ProcessEnv } {
  if (installed.kind === "localstack") {
    return {
      args: [LAUNCHER, "-m", "localstack.runtime.main"],
      env: childEnv({
        // Host mode: the sandbox looks like a container to LocalStack, which would
        // then write under /var/lib/localstack; keep everything in runDir instead.
        OVERRIDE_IN_DOCKER: "0",
        FILESYSTEM_ROOT: runDir,
        SERVICES: "sqs,secretsmanager",
        GATEWAY_LISTEN: `${host}:${port}`,
        LOCALSTACK_HOST: `${host}:${port}`,
        // Queue URLs as http://host:port/queue/<region>/<account>/<name>: resolvable
        // without LocalStack's DNS (sqs.<region>.localhost… is not).
        SQS_ENDPOINT_STRATEGY: "path",
        DNS_ADDRESS: "0",
        DISABLE_EVENTS: "1",
        SKIP_SSL_CERT_DOWNLOAD: "1",
        PERSISTENCE: "0",
      }),
    };
  }
  return {
    args: [LAUNCHER, "-m", "moto.server", "-H", host, "-p", String(port)],
    env: childEnv({}),
  };
}

/** Both services answer a real (unsigned-credential) call: the server is up and its providers are loaded. */
async function probe(endpointUrl: string): Promise<boolean> {
  const auth = (service: string) =>
    `AWS4-HMAC-SHA256 Credential=test/20250101/us-east-1/${service}/aws4_request, SignedHeaders=host, Signature=0`;
  try {
    const sqs = await fetch(`${endpointUrl}/`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", authorization: auth("sqs") },
      body: "Action=ListQueues&Version=2012-11-05",
      signal: AbortSignal.timeout(10_000),
    });
    if (sqs.status !== 200) return false;
    const sm = await fetch(`${endpointUrl}/`, {
      method: "POST",
      headers: {
        "content-type": "application/x-amz-json-1.1",
        "x-amz-target": "secretsmanager.ListSecrets",
        authorization: auth("secretsmanager"),
      },
      body: "{}",
      signal: AbortSignal.timeout(10_000),
    });
    return sm.status === 200;
  } catch {
    return false;
  }
}

async function launch(
  installed: InstalledEmulator,
  opts: { host: string; port: number; log: "file" | "inherit"; readyTimeoutMs: number },
): Promise<RunningEmulator> {
  const runDir = await mkdtemp(join(tmpdir(), `codex-pooler-${installed.kind}-`));
  const logFile = opts.log === "file" ? join(runDir, "emulator.log") : undefined;
  const { args, env } = commandFor(installed, opts.host, opts.port, runDir);
  const child: ChildProcess = spawn(installed.python, args, {
    cwd: runDir,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  if (logFile) {
    const out = createWriteStream(logFile);
    child.stdout?.pipe(out);
    child.stderr?.pipe(out);
  } else {
    child.stdout?.pipe(process.stderr, { end: false });
    child.stderr?.pipe(process.stderr, { end: false });
  }

  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exitPromise = new Promise<void>((resolveExit) => {
    child.once("exit", (code, signal) => {
      exited = { code, signal };
      resolveExit();
    });
  });
  // If this process exits without calling stop(), take the server down too
  // (the launcher's PDEATHSIG covers crashes and SIGKILL).
  const onExit = () => {
    if (!exited && child.pid) child.kill("SIGKILL");
  };
  process.once("exit", onExit);

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return exitPromise;
    stopped = true;
    process.removeListener("exit", onExit);
    if (!exited) {
      child.kill("SIGTERM");
      const done = await Promise.race([exitPromise.then(() => true), sleep(10_000).then(() => false)]);
      if (!done) {
        child.kill("SIGKILL");
        await exitPromise;
      }
    }
    await rm(runDir, { recursive: true, force: true });
  };

  const endpointUrl = `http://${opts.host}:${opts.port}`;
  const deadline = Date.now() + opts.readyTimeoutMs;
  while (!(await probe(endpointUrl))) {
    if (exited || Date.now() > deadline) {
      const why = exited
        ? `exited (code ${exited.code ?? "none"}, signal ${exited.signal ?? "none"})`
        : `did not answer within ${opts.readyTimeoutMs} ms`;
      const output = logFile ? await readFile(logFile, "utf8").catch(() => "") : "";
      await stop();
      throw new LaunchError(
        `${installed.kind} on ${endpointUrl} ${why}${output ? `; its last output:\n${output.split("\n").slice(-30).join("\n")}` : ""}`,
      );
    }
    await sleep(200);
  }
  return { endpointUrl, kind: installed.kind, logFile, stop };
}

/**
 * Starts the emulator and resolves once SQS and Secrets Manager answer.
 * Example: `const emu = await startEmulator(); … await emu.stop();`
 */
export async function startEmulator(options: StartEmulatorOptions = {}): Promise<RunningEmulator> {
  const host = options.host ?? "127.0.0.1";
  const log = options.log ?? "file";
  const readyTimeoutMs = options.readyTimeoutMs ?? 90_000;
  const wanted = pickKind(options.kind);
  const installed = await resolveEmulator(wanted);
  const started = Date.now();

  const attempt = async (inst: InstalledEmulator): Promise<RunningEmulator> => {
    // A port chosen for us can be taken in between; one retry on a fresh one covers that.
    for (let i = 0; ; i++) {
      const port = options.port ?? (await freePort(host));
      if (options.port !== undefined) await assertPortFree(host, port);
      try {
        return await launch(inst, { host, port, log, readyTimeoutMs });
      } catch (err) {
        if (options.port !== undefined || i >= 1 || !(err instanceof LaunchError)) throw err;
        progress(`retrying on another port: ${firstLine((err as Error).message)}`);
      }
    }
  };

  let running: RunningEmulator;
  try {
    running = await attempt(installed);
  } catch (err) {
    if (wanted !== "auto" || installed.kind !== "localstack" || !(err instanceof LaunchError)) throw err;
    // Installed but does not start here: remember it and use moto from now on.
    await writeFile(localstackFailureMarker(), `${new Date().toISOString()}\n${err.message}\n`);
    progress(`LocalStack did not start: ${firstLine(err.message)}; falling back to moto`);
    running = await attempt(await ensureInstalled("moto"));
  }
  progress(
    `${running.kind} ready on ${running.endpointUrl} in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
  return running;
}

/** CLI: `npm run emulator -- [--port N] [--host H] [--kind K] [--no-provision] [--install-only]`. */
export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: "string", default: "4566" },
      host: { type: "string", default: "127.0.0.1" },
      kind: { type: "string" },
      "no-provision": { type: "boolean", default: false },
      "install-only": { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    process.stdout.write(
      [
        "usage: npm run emulator -- [--port 4566] [--host 127.0.0.1] [--kind auto|localstack|moto] [--no-provision] [--install-only]",
        "",
        "Starts an AWS-protocol emulator (SQS, Secrets Manager), creates the project's queues",
        "and root-key secret in it (localstack/init.ts), and runs until interrupted.",
        "",
      ].join("\n"),
    );
    return;
  }
  if (values["install-only"]) {
    const installed = await resolveEmulator(values.kind as EmulatorKind | "auto" | undefined);
    progress(`${installed.kind} is installed in ${installed.venv}`);
    return;
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error("--port must be 1..65535");
  const emulator = await startEmulator({
    port,
    host: values.host,
    kind: values.kind as EmulatorKind | "auto" | undefined,
    log: "inherit",
  });
  const shutdown = async (signal: string) => {
    progress(`${signal}: stopping ${emulator.kind}`);
    await emulator.stop();
    process.exit(0);
  };
  process.once("SIGINT", () => void shutdown("SIGINT"));
  process.once("SIGTERM", () => void shutdown("SIGTERM"));

  if (!values["no-provision"]) {
    const { provisionFromEnv } = await import("../localstack/init.ts");
    await provisionFromEnv(emulator.endpointUrl);
  }
  progress(`running; for the app: export AWS_ENDPOINT_URL=${emulator.endpointUrl}`);
  process.stdout.write(`${JSON.stringify({ endpointUrl: emulator.endpointUrl, kind: emulator.kind })}\n`);
  await new Promise(() => {});
}

const entry = process.argv[1];
if (entry && import.meta.url === pathToFileURL(resolve(entry)).href) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    progress(`error: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}

export { REPO_ROOT };
