import type { Kysely, Transaction } from "kysely";
import type { Database } from "./schema/database.ts";

/** The database as repositories take it: `Db` for anything, `Tx` where a transaction is required (FOR UPDATE, multi-step writes). */
export type Db = Kysely<Database>;
export type Tx = Transaction<Database>;
/** Either; for functions that work inside or outside a transaction. */
export type DbOrTx = Db | Tx;
