import { z } from "zod";

/**
 * The only reader of process.env in the project. Each deployable parses its
 * environment once, strictly, and gets a frozen object; a bad value stops boot
 * with one line naming the variable (see `ConfigError`).
 */

export const DEFAULT_UPSTREAM_BASE_URL = "https://chatgpt.com/backend-api";
export const DEFAULT_AUTH_BASE_URL = "https://auth.openai.com";
export const ROLES = ["gateway", "worker", "scheduler", "all"] as const;
export type Role = (typeof ROLES)[number];

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    readonly problem: string,
  ) {
    super(`${variable}: ${problem}`);
    this.name = "ConfigError";
  }
}

type Env = Record<string, string | undefined>;

const blankToUndefined = (v: unknown) => (typeof v === "string" && v.trim() === "" ? undefined : v);

const port = z.preprocess(
  blankToUndefined,
  z.coerce
    .number({ error: "must be a whole number from 1 to 65535" })
    .int("must be a whole number from 1 to 65535")
    .min(1, "must be a whole number from 1 to 65535")
    .max(65535, "must be a whole number from 1 to 65535")
    .optional(),
);

const positiveInt = (max: number) =>
  z.preprocess(
    blankToUndefined,
    z.coerce
      .number({ error: `must be a whole number from 1 to ${max}` })
      .int(`must be a whole number from 1 to ${max}`)
      .min(1, `must be a whole number from 1 to ${max}`)
      .max(max, `must be a whole number from 1 to ${max}`)
      .optional(),
  );

const httpUrl = z.preprocess(
  blankToUndefined,
  z
    .string()
    .refine((v) => {
      try {
        const u = new URL(v);
        return (u.protocol === "http:" || u.protocol === "https:") && u.username === "" && u.password === "";
      } catch {
        return false;
      }
    }, "must be an http(s) URL without credentials")
    .transform((v) => v.replace(/\/+$/, ""))
    .optional(),
);

const databaseUrl = z.preprocess(
  blankToUndefined,
  z
    .string()
    .refine((v) => {
      try {
        const u = new URL(v);
        return u.protocol === "postgres:" || u.protocol === "postgresql:";
      } catch {
        return false;
      }
    }, "must be a postgres:// or postgresql:// URL")
    .optional(),
);

/** A root key: base64 (standard or URL alphabet) that decodes to exactly 32 bytes. */
export function decodeRootKey(value: string): Buffer {
  const trimmed = value.trim();
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(trimmed)) {
    throw new Error("must be base64 that decodes to exactly 32 bytes (it is not base64)");
  }
  const bytes = Buffer.from(trimmed.replace(/-/g, "+").replace(/_/g, "/"), "base64");
  if (bytes.length !== 32) {
    throw new Error(`must be base64 that decodes to exactly 32 bytes (it decodes to ${bytes.length})`);
  }
  return bytes;
}

const rootKey = z.preprocess(
  blankToUndefined,
  z
    .string()
    .transform((v, ctx) => {
      try {
        return decodeRootKey(v);
      } catch (err) {
        ctx.addIssue({ code: "custom", message: (err as Error).message });
        return z.NEVER;
      }
    })
    .optional(),
);

const role = z.preprocess(
  blankToUndefined,
  z
    .string()
    .transform((v) => (v === "web" ? "gateway" : v))
    .pipe(z.enum(ROLES, { error: `must be one of ${ROLES.join(", ")}` }))
    .optional(),
);

const logLevel = z.preprocess(
  blankToUndefined,
  z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"], {
    error: "must be one of fatal, error, warn, info, debug, trace, silent",
  }),
);

const queueName = z.preprocess(
  blankToUndefined,
  z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,80}$/, "must be an SQS queue name (letters, digits, - and _, at most 80)")
    .optional(),
);

const secretId = z.preprocess(
  blankToUndefined,
  z
    .string()
    .regex(/^[A-Za-z0-9/_+=.@:-]{1,2048}$/, "must be a Secrets Manager secret name or ARN")
    .optional(),
);

const secretKeyBase = z.preprocess(
  blankToUndefined,
  z
    .string()
    .min(64, "must be at least 64 characters (generate one with `openssl rand -base64 48`)")
    .optional(),
);

const hostName = z.preprocess(
  blankToUndefined,
  z
    .string()
    .regex(/^[A-Za-z0-9.-]{1,253}$/, "must be a host name without scheme or port")
    .optional(),
);

const bool = z.preprocess(
  blankToUndefined,
  z
    .enum(["true", "false", "1", "0"], { error: "must be true or false" })
    .transform((v) => v === "true" || v === "1")
    .optional(),
);

/**
 * Names are those of the seed where it had one (CODEX_POOLER_HTTP_PORT, PORT,
 * DATABASE_URL, POOL_SIZE, SECRET_KEY_BASE, PHX_HOST, OBAN_MODE,
 * OBAN_JOBS_QUEUE_LIMIT, the key roots); the rest are new and prefixed.
 */
const envSchema = z.object({
  CODEX_POOLER_HTTP_PORT: port,
  PORT: port,
  CODEX_POOLER_HOST: z.preprocess(blankToUndefined, z.ipv4({ error: "must be an IPv4 address" }).optional()),
  CODEX_POOLER_WORKERS: positiveInt(64),
  DATABASE_URL: databaseUrl,
  POOL_SIZE: positiveInt(200),
  SECRET_KEY_BASE: secretKeyBase,
  PHX_HOST: hostName,
  CODEX_POOLER_ROLE: role,
  OBAN_MODE: role,
  CODEX_POOLER_JOBS_QUEUE_LIMIT: positiveInt(256),
  OBAN_JOBS_QUEUE_LIMIT: positiveInt(256),
  CODEX_POOLER_UPSTREAM_SECRET_KEY: rootKey,
  CODEX_POOLER_UPSTREAM_SECRET_KEY_VERSION: positiveInt(1_000_000),
  CODEX_POOLER_TOTP_ENCRYPTION_KEY: rootKey,
  CODEX_POOLER_TOTP_KEY_VERSION: positiveInt(1_000_000),
  CODEX_POOLER_ROOT_KEYS_SECRET_ID: secretId,
  AWS_ENDPOINT_URL: httpUrl,
  AWS_REGION: z.preprocess(
    blankToUndefined,
    z
      .string()
      .regex(/^[a-z]{2}(-[a-z]+)+-\d$/, "must be an AWS region such as us-east-1")
      .optional(),
  ),
  CODEX_POOLER_REQUEST_RECORDS_QUEUE: queueName,
  CODEX_POOLER_JOBS_QUEUE: queueName,
  CODEX_POOLER_UPSTREAM_BASE_URL: httpUrl,
  CODEX_POOLER_AUTH_BASE_URL: httpUrl,
  CODEX_POOLER_DATA_DIR: z.preprocess(blankToUndefined, z.string().optional()),
  CODEX_POOLER_LOG_LEVEL: logLevel.optional(),
  CODEX_POOLER_DEMO: bool,
});

export interface RootKeyMaterial {
  key: Buffer;
  version: number;
}

export interface AppConfig {
  /** `workers`: gateway processes of one `serve` sharing the listen port (SO_REUSEPORT). */
  http: { host: string; port: number; publicHost: string; workers: number };
  database: { url: string | undefined; poolSize: number };
  dataDir: string;
  role: Role;
  jobs: { queueLimit: number };
  /** Root keys given in the environment; when absent they come from Secrets Manager or the local key file. */
  rootKeys: {
    upstream: RootKeyMaterial | undefined;
    totp: RootKeyMaterial | undefined;
    secretId: string | undefined;
  };
  secretKeyBase: string | undefined;
  aws: {
    endpointUrl: string | undefined;
    region: string;
    requestRecordsQueue: string;
    jobsQueue: string;
  };
  upstream: { baseUrl: string; authBaseUrl: string };
  /** Unset: each command picks its own default (serve: info; one-shot commands: warn). */
  logLevel: "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent" | undefined;
  demo: boolean;
}

function firstIssue(error: z.ZodError): ConfigError {
  const issue = error.issues[0];
  const variable = String(issue?.path[0] ?? "environment");
  return new ConfigError(variable, issue?.message ?? "is invalid");
}

function pairedKey(
  keyName: string,
  versionName: string,
  key: Buffer | undefined,
  version: number | undefined,
): RootKeyMaterial | undefined {
  if (key === undefined && version === undefined) return undefined;
  if (key === undefined) throw new ConfigError(keyName, `is required when ${versionName} is set`);
  return { key, version: version ?? 1 };
}

/**
 * Parses the environment. Throws `ConfigError` (with `.variable`) on the first
 * bad value. Example: `loadConfig({ PORT: "8080" }).http.port === 8080`.
 */
export function loadConfig(env: Env = process.env): Readonly<AppConfig> {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) throw firstIssue(parsed.error);
  const e = parsed.data;

  const config: AppConfig = {
    http: {
      host: e.CODEX_POOLER_HOST ?? "0.0.0.0",
      // PORT is the process's own listen port (what container platforms set);
      // CODEX_POOLER_HTTP_PORT is the published port of the seed's compose file.
      port: e.PORT ?? e.CODEX_POOLER_HTTP_PORT ?? 4000,
      publicHost: e.PHX_HOST ?? "localhost",
      workers: e.CODEX_POOLER_WORKERS ?? 1,
    },
    database: { url: e.DATABASE_URL, poolSize: e.POOL_SIZE ?? 10 },
    dataDir: e.CODEX_POOLER_DATA_DIR ?? ".data",
    role: e.CODEX_POOLER_ROLE ?? e.OBAN_MODE ?? "all",
    jobs: { queueLimit: e.CODEX_POOLER_JOBS_QUEUE_LIMIT ?? e.OBAN_JOBS_QUEUE_LIMIT ?? 8 },
    rootKeys: {
      upstream: pairedKey(
        "CODEX_POOLER_UPSTREAM_SECRET_KEY",
        "CODEX_POOLER_UPSTREAM_SECRET_KEY_VERSION",
        e.CODEX_POOLER_UPSTREAM_SECRET_KEY,
        e.CODEX_POOLER_UPSTREAM_SECRET_KEY_VERSION,
      ),
      totp: pairedKey(
        "CODEX_POOLER_TOTP_ENCRYPTION_KEY",
        "CODEX_POOLER_TOTP_KEY_VERSION",
        e.CODEX_POOLER_TOTP_ENCRYPTION_KEY,
        e.CODEX_POOLER_TOTP_KEY_VERSION,
      ),
      secretId: e.CODEX_POOLER_ROOT_KEYS_SECRET_ID,
    },
    secretKeyBase: e.SECRET_KEY_BASE,
    aws: {
      endpointUrl: e.AWS_ENDPOINT_URL,
      region: e.AWS_REGION ?? "us-east-1",
      requestRecordsQueue: e.CODEX_POOLER_REQUEST_RECORDS_QUEUE ?? "codex-pooler-request-records",
      jobsQueue: e.CODEX_POOLER_JOBS_QUEUE ?? "codex-pooler-jobs",
    },
    upstream: {
      baseUrl: e.CODEX_POOLER_UPSTREAM_BASE_URL ?? DEFAULT_UPSTREAM_BASE_URL,
      authBaseUrl: e.CODEX_POOLER_AUTH_BASE_URL ?? DEFAULT_AUTH_BASE_URL,
    },
    logLevel: e.CODEX_POOLER_LOG_LEVEL,
    demo: e.CODEX_POOLER_DEMO ?? false,
  };
  if (
    config.rootKeys.upstream &&
    config.rootKeys.totp &&
    config.rootKeys.upstream.key.equals(config.rootKeys.totp.key)
  ) {
    throw new ConfigError(
      "CODEX_POOLER_TOTP_ENCRYPTION_KEY",
      "must differ from CODEX_POOLER_UPSTREAM_SECRET_KEY",
    );
  }
  return deepFreeze(config);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object" && !Buffer.isBuffer(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/** Every variable the configuration reads, for `--help` and the README. */
export const CONFIG_VARIABLES = Object.keys(envSchema.shape);
