import type { ColumnType } from "kysely";

/**
 * Column shapes shared by the table types, as `pg` returns them with its
 * default type parsers: timestamptz → Date, bytea → Buffer, jsonb → parsed
 * JSON, integer / double precision → number.
 */

/** timestamptz NOT NULL without a default. */
export type Timestamp = ColumnType<Date, Date | string, Date | string>;
/** timestamptz NOT NULL DEFAULT now(): optional on insert. */
export type GeneratedTimestamp = ColumnType<Date, Date | string | undefined, Date | string>;
/** Nullable timestamptz. */
export type NullableTimestamp = ColumnType<
  Date | null,
  Date | string | null | undefined,
  Date | string | null
>;

/** bytea NOT NULL. */
export type Bytes = ColumnType<Buffer, Buffer | Uint8Array, Buffer | Uint8Array>;

export type JsonPrimitive = string | number | boolean | null;
export type JsonValue = JsonPrimitive | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/**
 * jsonb. Written as JSON text (use `toJson`): `pg` would turn a JS array
 * parameter into a Postgres array literal, not JSON.
 */
export type Json<T extends JsonValue = JsonValue> = ColumnType<T, string, string>;
/** jsonb NOT NULL DEFAULT '{}'. */
export type GeneratedJson<T extends JsonValue = JsonObject> = ColumnType<T, string | undefined, string>;

/** Serialises a value for a jsonb column. */
export function toJson(value: JsonValue): string {
  return JSON.stringify(value);
}
