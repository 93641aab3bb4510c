import { constants } from "node:fs";
import { link, mkdir, open, readFile, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { GetSecretValueCommand, type SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import type { Random } from "@codex-pooler/core";
import { z } from "zod";
import { systemRandom } from "./clock.ts";
import type { VersionedKey } from "./secret-box.ts";

export interface RootKeys {
  upstream: VersionedKey;
  totp: VersionedKey;
  source: "env" | "secrets-manager" | "file";
}

/** The part of the app config this reads (structurally `AppConfig["rootKeys"]`). */
export interface RootKeysConfig {
  upstream: VersionedKey | undefined;
  totp: VersionedKey | undefined;
  secretId: string | undefined;
}

export type RootKeysErrorCode =
  | "root_keys_incomplete"
  | "root_keys_secret_unavailable"
  | "root_keys_invalid"
  | "root_keys_file_insecure";

/** Root keys could not be loaded. Messages name the place and field, never a value. */
export class RootKeysError extends Error {
  constructor(
    readonly code: RootKeysErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "RootKeysError";
  }
}

export const ROOT_KEYS_FILE = "root-keys.json";

const KEY_PROBLEM = "must be base64 that decodes to exactly 32 bytes";

/** Standard or URL-safe base64 of exactly 32 bytes. */
const key32 = z
  .string({ error: (iss) => (iss.input === undefined ? "is required" : KEY_PROBLEM) })
  .transform((value, ctx) => {
    const trimmed = value.trim();
    const bytes = /^[A-Za-z0-9+/_-]+={0,2}$/.test(trimmed)
      ? Buffer.from(trimmed.replace(/-/g, "+").replace(/_/g, "/"), "base64")
      : undefined;
    if (bytes?.length !== 32) {
      ctx.addIssue({ code: "custom", message: KEY_PROBLEM });
      return z.NEVER;
    }
    return bytes;
  });
const version = z
  .number({ error: (iss) => (iss.input === undefined ? "is required" : "must be a whole number ≥ 1") })
  .int("must be a whole number ≥ 1")
  .min(1, "must be a whole number ≥ 1");

/** The JSON document in the Secrets Manager secret and in the local key file. */
export const rootKeysDocument = z.object({
  upstream_secret_key: key32,
  upstream_secret_key_version: version,
  totp_encryption_key: key32,
  totp_key_version: version,
});

/** A fresh document with two independent random keys (for the key file and for provisioning). */
export function generateRootKeysDocument(random: Random = systemRandom): z.input<typeof rootKeysDocument> {
  return {
    upstream_secret_key: Buffer.from(random.bytes(32)).toString("base64"),
    upstream_secret_key_version: 1,
    totp_encryption_key: Buffer.from(random.bytes(32)).toString("base64"),
    totp_key_version: 1,
  };
}

/** Parses a root-keys JSON text; `where` names the secret or file in errors. */
export function parseRootKeysDocument(
  text: string,
  where: string,
): { upstream: VersionedKey; totp: VersionedKey } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new RootKeysError("root_keys_invalid", `${where} is not valid JSON`);
  }
  const parsed = rootKeysDocument.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue?.path.length ? String(issue.path.join(".")) : "(document)";
    // Zod's messages are ours or type-only ("expected string, received number"):
    // they never echo the value.
    throw new RootKeysError(
      "root_keys_invalid",
      `${where}: field "${field}" ${issue?.message ?? "is invalid"}`,
    );
  }
  const d = parsed.data;
  if (d.upstream_secret_key.equals(d.totp_encryption_key)) {
    throw new RootKeysError(
      "root_keys_invalid",
      `${where}: field "totp_encryption_key" must differ from "upstream_secret_key"`,
    );
  }
  return {
    upstream: { key: d.upstream_secret_key, version: d.upstream_secret_key_version },
    totp: { key: d.totp_encryption_key, version: d.totp_key_version },
  };
}

/**
 * Root keys, from the first place that has them:
 * 1. the environment (already parsed by the config package) — both keys or neither;
 * 2. the Secrets Manager secret `config.secretId` (GetSecretValue, JSON validated);
 * 3. `<dataDir>/root-keys.json`, created once (mode 0600) with random keys for
 *    the embedded default; a file readable by group or others is refused.
 */
export async function loadRootKeys(options: {
  config: { rootKeys: RootKeysConfig };
  dataDir: string;
  secretsManager?: SecretsManagerClient;
  random?: Random;
}): Promise<RootKeys> {
  const { upstream, totp, secretId } = options.config.rootKeys;
  if (upstream && totp) return { upstream, totp, source: "env" };
  if (upstream || totp) {
    const [given, missing] = upstream
      ? ["CODEX_POOLER_UPSTREAM_SECRET_KEY", "CODEX_POOLER_TOTP_ENCRYPTION_KEY"]
      : ["CODEX_POOLER_TOTP_ENCRYPTION_KEY", "CODEX_POOLER_UPSTREAM_SECRET_KEY"];
    throw new RootKeysError(
      "root_keys_incomplete",
      `${missing} is required when ${given} is set (both root keys come from the same place)`,
    );
  }
  if (secretId) {
    if (!options.secretsManager) {
      throw new RootKeysError(
        "root_keys_secret_unavailable",
        `CODEX_POOLER_ROOT_KEYS_SECRET_ID is set but no Secrets Manager client was given`,
      );
    }
    return { ...(await readSecret(options.secretsManager, secretId)), source: "secrets-manager" };
  }
  return { ...(await readOrCreateKeyFile(options.dataDir, options.random ?? systemRandom)), source: "file" };
}

async function readSecret(client: SecretsManagerClient, secretId: string) {
  const where = `Secrets Manager secret "${secretId}"`;
  let text: string | undefined;
  try {
    const out = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
    text =
      out.SecretString ?? (out.SecretBinary ? Buffer.from(out.SecretBinary).toString("utf8") : undefined);
  } catch (err) {
    const name = (err as { name?: string }).name ?? "Error";
    throw new RootKeysError("root_keys_secret_unavailable", `${where} could not be read (${name})`, {
      cause: err,
    });
  }
  if (text === undefined) throw new RootKeysError("root_keys_invalid", `${where} has no value`);
  return parseRootKeysDocument(text, where);
}

async function readOrCreateKeyFile(dataDir: string, random: Random) {
  const file = join(dataDir, ROOT_KEYS_FILE);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  let info = await stat(file).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return undefined;
    throw err;
  });
  if (!info) {
    await createKeyFileOnce(file, random);
    info = await stat(file);
  }
  if (!info.isFile()) throw new RootKeysError("root_keys_file_insecure", `${file} is not a regular file`);
  if ((info.mode & 0o077) !== 0) {
    throw new RootKeysError(
      "root_keys_file_insecure",
      `${file} is readable or writable by group or others (mode ${(info.mode & 0o777).toString(8)}); run: chmod 600 ${file}`,
    );
  }
  return parseRootKeysDocument(await readFile(file, "utf8"), file);
}

/**
 * Writes a complete file under a temporary name, then hard-links it into
 * place: link(2) fails if the target exists, so two processes starting at once
 * never overwrite each other's keys and nobody reads a half-written file.
 */
async function createKeyFileOnce(file: string, random: Random): Promise<void> {
  const tmp = `${file}.${process.pid}.${Buffer.from(random.bytes(6)).toString("hex")}.tmp`;
  const handle = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  try {
    await handle.writeFile(`${JSON.stringify(generateRootKeysDocument(random), null, 2)}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await link(tmp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
  } finally {
    await rm(tmp, { force: true });
  }
}
