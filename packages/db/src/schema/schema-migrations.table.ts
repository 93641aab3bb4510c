import type { Selectable } from "kysely";
import type { GeneratedTimestamp } from "./columns.ts";

/** Written only by the migrator (packages/db/src/migrate.ts). */
export interface SchemaMigrationsTable {
  /** The 14-digit timestamp of the file name. */
  version: string;
  /** The file name without version and extension. */
  name: string;
  /** SHA-256 (hex) of the file with line endings normalised to \n. */
  checksum: string;
  applied_at: GeneratedTimestamp;
}

export type SchemaMigrationRow = Selectable<SchemaMigrationsTable>;
