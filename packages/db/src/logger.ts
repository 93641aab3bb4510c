/**
 * The logging seam of the db package. Structural, so `console`, a pino-style
 * adapter or a test spy all fit; every method is optional and the default is
 * silence. Fields never carry passwords, statements' parameters or row data.
 */
export type LogFields = Record<string, unknown>;

export interface DbLogger {
  debug?(message: string, fields?: LogFields): void;
  info?(message: string, fields?: LogFields): void;
  warn?(message: string, fields?: LogFields): void;
  error?(message: string, fields?: LogFields): void;
}

export const silentLogger: DbLogger = {};
