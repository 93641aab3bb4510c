/**
 * Scheduled job: deletes thread-continuity anchors past their expiry, so the
 * table stays as small as the set of live threads.
 */
import type { Db } from "@codex-pooler/db";

export async function purgeExpiredAffinities(db: Db, now: Date): Promise<number> {
  const result = await db.deleteFrom("thread_affinities").where("expires_at", "<=", now).executeTakeFirst();
  return Number(result.numDeletedRows ?? 0);
}
