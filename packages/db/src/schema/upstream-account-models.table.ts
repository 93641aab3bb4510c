import type { Insertable, Selectable, Updateable } from "kysely";
import type { GeneratedTimestamp, Json, JsonObject } from "./columns.ts";

/** The model catalog each account reported (GET /backend-api/codex/models). */
export interface UpstreamAccountModelsTable {
  account_id: string;
  slug: string;
  info: Json<JsonObject>;
  fetched_at: GeneratedTimestamp;
}

export type UpstreamAccountModelRow = Selectable<UpstreamAccountModelsTable>;
export type NewUpstreamAccountModel = Insertable<UpstreamAccountModelsTable>;
export type UpstreamAccountModelUpdate = Updateable<UpstreamAccountModelsTable>;
