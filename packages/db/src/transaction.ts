import { type IsolationLevel, isAbortedTransactionError } from "kysely";
import { DatabaseError, toDatabaseError } from "./errors.ts";
import type { Db, Tx } from "./types.ts";

export interface TransactionOptions {
  isolationLevel?: IsolationLevel;
  /** Extra attempts when the transaction fails with serialization_failure or deadlock_detected. Default 0. */
  retries?: number;
}

/**
 * Runs `fn` in a transaction: commit when it resolves, roll back when it
 * throws. Errors from the database come out as DatabaseError (stable codes);
 * the caller's own errors pass through unchanged. Side effects (enqueue,
 * email, webhooks) belong after this resolves, never inside `fn`.
 *
 * @example
 *   const pool = await withTransaction(db, async (tx) => {
 *     const row = await insertPool(tx, input);
 *     await recordAudit(tx, { action: "pool.create", targetId: row.id });
 *     return row;
 *   });
 */
export async function withTransaction<T>(
  db: Db,
  fn: (tx: Tx) => Promise<T>,
  options: TransactionOptions = {},
): Promise<T> {
  const retries = options.retries ?? 0;
  for (let attempt = 0; ; attempt++) {
    try {
      let builder = db.transaction();
      if (options.isolationLevel) builder = builder.setIsolationLevel(options.isolationLevel);
      return await builder.execute(fn);
    } catch (err) {
      if (!isFromDatabase(err)) throw err;
      const mapped = toDatabaseError(err);
      if (mapped.retryable && attempt < retries) continue;
      throw mapped;
    }
  }
}

const CONNECTION_ERRNOS = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT"]);

/** Errors raised by Postgres, the driver or the connection — not the caller's own. */
function isFromDatabase(err: unknown): boolean {
  if (err instanceof DatabaseError || isAbortedTransactionError(err)) return true;
  if (typeof err !== "object" || err === null) return false;
  // pg's server errors carry the ErrorResponse fields.
  if ("severity" in err && "code" in err) return true;
  const code = "code" in err ? String(err.code) : "";
  return CONNECTION_ERRNOS.has(code) || (err instanceof Error && /Connection terminated/i.test(err.message));
}
