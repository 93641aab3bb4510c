/**
 * Shared start-up of every CLI command: parse configuration once (a bad value
 * prints one line naming the variable and exits 78), build the logger.
 */
import { type AppConfig, ConfigError, loadConfig } from "@codex-pooler/config";
import type { Logger } from "@codex-pooler/core";
import { createLogger } from "@codex-pooler/logging";

/** EX_CONFIG from sysexits.h: a configuration error. */
export const EXIT_CONFIG = 78;
/** Bad usage or bad input given on the command line. */
export const EXIT_USAGE = 2;
export const EXIT_FAILURE = 1;

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = EXIT_FAILURE,
  ) {
    super(message);
    this.name = "CliError";
  }
}

export function configOrExit(env: NodeJS.ProcessEnv = process.env): Readonly<AppConfig> {
  try {
    return loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`codex-pooler: configuration error: ${err.message}\n`);
      process.exit(EXIT_CONFIG);
    }
    throw err;
  }
}

/** Logs go to stderr so that `--json` output on stdout stays machine-readable. */
export function cliLogger(config: Readonly<AppConfig>, name: string, defaultLevel = "warn"): Logger {
  return createLogger({ level: config.logLevel ?? defaultLevel, name, destination: process.stderr as never });
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

/** The db package takes (message, fields); our logger takes (fields, message). */
export function dbLoggerFrom(logger: Logger) {
  return {
    debug: (message: string, fields?: object) => logger.debug(fields ?? {}, message),
    info: (message: string, fields?: object) => logger.info(fields ?? {}, message),
    warn: (message: string, fields?: object) => logger.warn(fields ?? {}, message),
    error: (message: string, fields?: object) => logger.error(fields ?? {}, message),
  };
}
