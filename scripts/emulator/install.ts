// Installs the AWS-protocol emulator into git-ignored virtualenvs under
// `.venv-emulator/` (one per kind). The project installs it itself so a clean
// clone (and CI) needs nothing but a CPython with venv and a reachable PyPI.
// A stamp file records what was installed; a matching stamp makes this a
// no-op, so every test run can call it.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { createWriteStream, existsSync, readdirSync } from "node:fs";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { withFileLock } from "./lock.ts";
import { progress } from "./log.ts";

export type EmulatorKind = "localstack" | "moto";

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const VENV_ROOT = join(REPO_ROOT, ".venv-emulator");
const HERE = dirname(fileURLToPath(import.meta.url));

interface KindSpec {
  requirements: string[];
  constraintsFile: string;
  /** Accepts a CPython (major, minor). */
  pythonOk(major: number, minor: number): boolean;
  pythonHint: string;
  /** Python statement that must import cleanly after install. */
  importCheck: string;
}

const SPECS: Record<EmulatorKind, KindSpec> = {
  localstack: {
    // `localstack-core` alone lacks the runtime (rolo, twisted, hypercorn…): the
    // `runtime` extra brings them; twisted's TLS endpoint also needs service-identity,
    // which the extra does not list.
    requirements: ["localstack-core[runtime]==2026.3.0", "service-identity"],
    constraintsFile: join(HERE, "localstack-constraints.txt"),
    // 2026.3.0 uses PEP 695 generics (3.12+) although its metadata says >=3.10;
    // it was seen to run on 3.13.
    pythonOk: (major, minor) => major === 3 && minor >= 12 && minor <= 13,
    pythonHint: "CPython 3.12 or 3.13",
    importCheck: "import localstack.aws.components, localstack.runtime.server.twisted",
  },
  moto: {
    requirements: ["moto[server]==5.2.5"],
    constraintsFile: join(HERE, "moto-constraints.txt"),
    pythonOk: (major, minor) => major === 3 && minor >= 9,
    pythonHint: "CPython 3.9 or newer",
    importCheck: "import moto.server, moto.sqs, moto.secretsmanager",
  },
};

export interface InstalledEmulator {
  kind: EmulatorKind;
  venv: string;
  python: string;
}

interface Stamp {
  kind: EmulatorKind;
  fingerprint: string;
  pythonVersion: string;
  installedAt: string;
}

function venvPython(venv: string): string {
  return process.platform === "win32" ? join(venv, "Scripts", "python.exe") : join(venv, "bin", "python");
}

/** Runs a command; resolves with its exit code and output (both streams). */
function run(
  cmd: string,
  args: string[],
  opts: { onLine?: (line: string) => void; logFile?: string } = {},
): Promise<{ code: number; output: string }> {
  return new Promise((resolvePromise) => {
    const child = spawn(cmd, args, {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, PIP_DISABLE_PIP_VERSION_CHECK: "1" },
    });
    const log = opts.logFile ? createWriteStream(opts.logFile, { flags: "a" }) : undefined;
    let output = "";
    let pending = "";
    const onData = (chunk: Buffer) => {
      const text = chunk.toString("utf8");
      log?.write(text);
      output += text;
      if (output.length > 200_000) output = output.slice(-100_000);
      pending += text;
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) opts.onLine?.(line);
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("error", (err) => {
      log?.end();
      resolvePromise({ code: -1, output: `${output}\n${err.message}` });
    });
    child.on("close", (code) => {
      if (pending) opts.onLine?.(pending);
      log?.end();
      resolvePromise({ code: code ?? -1, output });
    });
  });
}

async function pythonVersion(
  python: string,
): Promise<{ major: number; minor: number; full: string } | undefined> {
  const { code, output } = await run(python, [
    "-c",
    "import sys, venv, ensurepip; print('%d.%d.%d' % sys.version_info[:3])",
  ]);
  if (code !== 0) return undefined;
  const m = /^(\d+)\.(\d+)\.(\d+)\s*$/m.exec(output);
  if (!m) return undefined;
  return { major: Number(m[1]), minor: Number(m[2]), full: `${m[1]}.${m[2]}.${m[3]}` };
}

/** Candidate interpreters, most specific first; `CODEX_POOLER_EMULATOR_PYTHON` overrides. */
function pythonCandidates(): string[] {
  const forced = process.env.CODEX_POOLER_EMULATOR_PYTHON;
  if (forced) return [forced];
  const out = ["python3.13", "python3.12"];
  const pyenvRoot = process.env.PYENV_ROOT ?? join(homedir(), ".pyenv");
  const versionsDir = join(pyenvRoot, "versions");
  if (existsSync(versionsDir)) {
    const versions = readdirSync(versionsDir)
      .filter((v) => /^3\.\d+\.\d+$/.test(v))
      .sort((a, b) => b.localeCompare(a, undefined, { numeric: true }));
    for (const v of versions) out.push(join(versionsDir, v, "bin", "python3"));
  }
  out.push("python3", "python");
  return out;
}

async function findPython(spec: KindSpec): Promise<{ python: string; version: string } | undefined> {
  for (const candidate of pythonCandidates()) {
    const v = await pythonVersion(candidate);
    if (v && spec.pythonOk(v.major, v.minor)) return { python: candidate, version: v.full };
  }
  return undefined;
}

async function fingerprint(kind: EmulatorKind, spec: KindSpec, pythonVersionText: string): Promise<string> {
  const h = createHash("sha256");
  h.update(`${kind}\n${spec.requirements.join("\n")}\n${pythonVersionText}\n`);
  h.update(await readFile(spec.constraintsFile));
  return h.digest("hex").slice(0, 16);
}

async function readStamp(file: string): Promise<Stamp | undefined> {
  try {
    return JSON.parse(await readFile(file, "utf8")) as Stamp;
  } catch {
    return undefined;
  }
}

export class EmulatorInstallError extends Error {
  constructor(
    readonly kind: EmulatorKind,
    /** "no_python" is cheap to find again; "install_failed" cost a pip run. */
    readonly reason: "no_python" | "install_failed",
    message: string,
  ) {
    super(message);
    this.name = "EmulatorInstallError";
  }
}

/**
 * Makes sure the emulator of `kind` is installed and importable; returns the
 * venv's interpreter. Fast when the stamp matches (one `python --version` call).
 * Serialised across processes by a lock file, so parallel callers install once.
 */
export async function ensureInstalled(kind: EmulatorKind): Promise<InstalledEmulator> {
  const spec = SPECS[kind];
  const venv = join(VENV_ROOT, kind);
  const stampFile = join(venv, ".codex-pooler-stamp.json");
  const python = venvPython(venv);

  // Fast path without taking the lock.
  const quick = await readStamp(stampFile);
  if (quick && existsSync(python)) {
    const v = await pythonVersion(python);
    if (
      v &&
      quick.pythonVersion === v.full &&
      quick.fingerprint === (await fingerprint(kind, spec, v.full))
    ) {
      return { kind, venv, python };
    }
  }

  await mkdir(VENV_ROOT, { recursive: true });
  return withFileLock(join(VENV_ROOT, `${kind}.lock`), async () => {
    const found = await findPython(spec);
    if (!found) {
      throw new EmulatorInstallError(
        kind,
        "no_python",
        `no suitable Python for ${kind} (needs ${spec.pythonHint} with the venv module; set CODEX_POOLER_EMULATOR_PYTHON to one)`,
      );
    }
    const fp = await fingerprint(kind, spec, found.version);
    const stamp = await readStamp(stampFile);
    if (stamp && stamp.fingerprint === fp && existsSync(python)) {
      const v = await pythonVersion(python);
      if (v && v.full === stamp.pythonVersion) return { kind, venv, python };
    }

    const started = Date.now();
    progress(
      `installing ${kind} into ${venv} with Python ${found.version} (${found.python}); first run takes about a minute`,
    );
    await rm(venv, { recursive: true, force: true });
    await mkdir(dirname(venv), { recursive: true });
    const logFile = `${venv}.install.log`;
    await writeFile(logFile, "");

    progress("creating the virtualenv");
    let r = await run(found.python, ["-m", "venv", venv], { logFile });
    if (r.code !== 0)
      throw new EmulatorInstallError(kind, "install_failed", `python -m venv failed:\n${tail(r.output)}`);

    progress(
      `pip install ${spec.requirements.join(" ")} (pinned by ${spec.constraintsFile.slice(REPO_ROOT.length + 1)})`,
    );
    let collected = 0;
    r = await run(
      python,
      ["-m", "pip", "install", "--progress-bar", "off", ...spec.requirements, "-c", spec.constraintsFile],
      {
        logFile,
        onLine: (line) => {
          if (line.startsWith("Collecting ")) {
            collected++;
            if (collected % 20 === 0) progress(`  resolved ${collected} packages…`);
          } else if (line.startsWith("Installing collected packages")) {
            progress(`  installing ${collected} packages…`);
          } else if (line.startsWith("ERROR")) {
            progress(`  ${line}`);
          }
        },
      },
    );
    if (r.code !== 0) {
      throw new EmulatorInstallError(
        kind,
        "install_failed",
        `pip install failed (full log: ${logFile}):\n${tail(r.output)}`,
      );
    }

    r = await run(python, ["-c", spec.importCheck], { logFile });
    if (r.code !== 0) {
      throw new EmulatorInstallError(
        kind,
        "install_failed",
        `${kind} does not import after install (log: ${logFile}):\n${tail(r.output)}`,
      );
    }

    const v = await pythonVersion(python);
    const newStamp: Stamp = {
      kind,
      fingerprint: fp,
      pythonVersion: v?.full ?? found.version,
      installedAt: new Date().toISOString(),
    };
    await writeFile(stampFile, `${JSON.stringify(newStamp, null, 2)}\n`);
    progress(`${kind} installed in ${((Date.now() - started) / 1000).toFixed(0)} s`);
    return { kind, venv, python };
  });
}

function tail(text: string, lines = 25): string {
  return text
    .split("\n")
    .filter((l) => !/is ignored: it is neither a file nor a directory/.test(l))
    .slice(-lines)
    .join("\n");
}

/** Marker that LocalStack failed here, so `auto` does not retry the slow install on every run. */
export function localstackFailureMarker(): string {
  return join(VENV_ROOT, "localstack.failed");
}
