/**
 * Postgres errors mapped to stable codes, so repositories and transports can
 * branch on `err.code` ("unique_violation", …) instead of SQLSTATEs or
 * driver-specific shapes. The constraint name rides along: a repository turns
 * `unique_violation` on `pools_name_key` into its own domain error.
 */

export const DATABASE_ERROR_CODES = {
  "23505": "unique_violation",
  "23503": "foreign_key_violation",
  "23502": "not_null_violation",
  "23514": "check_violation",
  "23P01": "exclusion_violation",
  "22001": "value_too_long",
  "22P02": "invalid_text_representation",
  "22003": "numeric_out_of_range",
  "22007": "invalid_datetime_format",
  "22008": "datetime_field_overflow",
  "40001": "serialization_failure",
  "40P01": "deadlock_detected",
  "55P03": "lock_not_available",
  "57014": "query_canceled",
  "57P01": "connection_lost",
  "08000": "connection_lost",
  "08003": "connection_lost",
  "08006": "connection_lost",
  "53300": "too_many_connections",
} as const;

export type DatabaseErrorCode =
  | (typeof DATABASE_ERROR_CODES)[keyof typeof DATABASE_ERROR_CODES]
  /** COMMIT answered ROLLBACK: an earlier statement's error was swallowed inside the transaction. */
  | "transaction_aborted"
  | "unknown";

/** Codes worth retrying the whole transaction for. */
export const RETRYABLE_DATABASE_ERRORS: ReadonlySet<DatabaseErrorCode> = new Set([
  "serialization_failure",
  "deadlock_detected",
]);

export class DatabaseError extends Error {
  override readonly name = "DatabaseError";
  readonly code: DatabaseErrorCode;
  /** The raw SQLSTATE, when the error came from the server. */
  readonly sqlState: string | undefined;
  readonly constraint: string | undefined;
  readonly table: string | undefined;
  readonly column: string | undefined;

  constructor(
    code: DatabaseErrorCode,
    message: string,
    details: {
      sqlState?: string;
      constraint?: string;
      table?: string;
      column?: string;
      cause?: unknown;
    } = {},
  ) {
    super(message, { cause: details.cause });
    this.code = code;
    this.sqlState = details.sqlState;
    this.constraint = details.constraint;
    this.table = details.table;
    this.column = details.column;
  }

  get retryable(): boolean {
    return RETRYABLE_DATABASE_ERRORS.has(this.code);
  }
}

const CONNECTION_ERRNOS = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "ENOTFOUND",
  "EHOSTUNREACH",
]);

const field = (err: object, key: string): string | undefined => {
  const value = (err as Record<string, unknown>)[key];
  return typeof value === "string" && value !== "" ? value : undefined;
};

/**
 * Maps anything thrown by pg/kysely to a DatabaseError (returned as is if it
 * already is one). The message is Postgres's own, which names constraints
 * and columns but never parameter values; `detail` (which can quote row
 * values) is deliberately not copied.
 */
export function toDatabaseError(err: unknown): DatabaseError {
  if (err instanceof DatabaseError) return err;
  if (typeof err !== "object" || err === null)
    return new DatabaseError("unknown", String(err), { cause: err });
  const code = field(err, "code");
  const message = err instanceof Error ? err.message : String(err);
  const table = field(err, "table");
  const column = field(err, "column");
  const constraint = field(err, "constraint");
  const details = {
    cause: err,
    ...(table ? { table } : {}),
    ...(column ? { column } : {}),
    ...(constraint ? { constraint } : {}),
  };
  if ((code && CONNECTION_ERRNOS.has(code)) || /Connection terminated/i.test(message)) {
    return new DatabaseError("connection_lost", message, details);
  }
  if (code && /^[0-9A-Z]{5}$/.test(code)) {
    const mapped = (DATABASE_ERROR_CODES as Record<string, DatabaseErrorCode>)[code] ?? "unknown";
    return new DatabaseError(mapped, message, { ...details, sqlState: code });
  }
  if ((err as { name?: unknown }).name === "AbortedTransactionError") {
    return new DatabaseError("transaction_aborted", message, details);
  }
  return new DatabaseError("unknown", message, details);
}

/** True when `err` is (or maps to) a DatabaseError with `code` (and, if given, on `constraint`). */
export function isDatabaseError(err: unknown, code: DatabaseErrorCode, constraint?: string): boolean {
  const mapped = toDatabaseError(err);
  return mapped.code === code && (constraint === undefined || mapped.constraint === constraint);
}
