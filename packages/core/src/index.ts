export * from "./api-keys.ts";
export * from "./continuity.ts";
export * from "./errors.ts";
export * from "./ids.ts";
export * from "./ports.ts";
export * from "./quota.ts";
export * from "./routing.ts";
