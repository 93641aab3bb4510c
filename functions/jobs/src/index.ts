export * from "./ingest-request-records.ts";
export * from "./purge-affinities.ts";
