/**
 * History items that only the account which minted them can read: reasoning
 * items carry `encrypted_content` sealed for that account, and compaction
 * items are an encrypted summary of earlier turns. When a thread moves to
 * another account, sending them makes the upstream refuse the whole request
 * (400 invalid_encrypted_content), so they are removed. Visible messages,
 * tool calls and tool outputs stay: the new account sees the conversation,
 * only the old account's private reasoning is lost.
 */

export interface StripResult {
  input: unknown[];
  removed: number;
}

function accountBound(item: unknown): boolean {
  if (!item || typeof item !== "object") return false;
  const type = (item as Record<string, unknown>)["type"];
  if (type === "compaction") return true;
  return type === "reasoning" && typeof (item as Record<string, unknown>)["encrypted_content"] === "string";
}

/** Example: `[user msg, reasoning{encrypted_content}, function_call]` → `[user msg, function_call]`, removed 1. */
export function stripAccountBoundItems(input: unknown): StripResult {
  if (!Array.isArray(input)) return { input: [], removed: 0 };
  const kept = input.filter((item) => !accountBound(item));
  return { input: kept, removed: input.length - kept.length };
}
