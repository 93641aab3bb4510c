/**
 * Where system text goes upstream. Both surfaces accept it in three places
 * (a top-level `instructions`, `system` messages, `developer` messages); the
 * upstream gets it in exactly one shape, chosen by `InstructionsMode`:
 *
 * - `"developer"` (default): every piece becomes a `developer` message item
 *   at its own position (the top-level `instructions` first) and no
 *   top-level `instructions` is sent. This is the shape the real Codex CLI
 *   0.171 sends and is observed to work upstream; it keeps mid-conversation
 *   instructions where the client put them, and it stays clear of the
 *   backend's checks on the `instructions` string.
 * - `"instructions"`: every piece is joined (blank line between pieces, in
 *   order) into the top-level `instructions` string, the public Responses
 *   meaning of a system prompt. Kept as a switch because the spec records
 *   non-Codex clients being told "Instructions are required".
 */

export type InstructionsMode = "developer" | "instructions";

export interface TranslateOptions {
  /** Default `"developer"`; see the module comment. */
  instructionsMode?: InstructionsMode;
}

export function developerMessage(text: string): Record<string, unknown> {
  return { type: "message", role: "developer", content: [{ type: "input_text", text }] };
}

/** Collects system text and places it according to the mode. */
export class SystemText {
  readonly #mode: InstructionsMode;
  readonly #pieces: string[] = [];

  constructor(mode: InstructionsMode = "developer") {
    this.#mode = mode;
  }

  /** A top-level `instructions` string: in developer mode, the first input item. */
  top(text: string, input: unknown[]): void {
    if (text === "") return;
    if (this.#mode === "developer") input.unshift(developerMessage(text));
    else this.#pieces.unshift(text);
  }

  /**
   * A system/developer message met in the input at this point. `item` is the
   * already-normalised developer message to keep in developer mode (so extra
   * keys a client put on it survive); without it one is built from `text`.
   * Empty text adds nothing in either mode.
   */
  message(text: string, input: unknown[], item?: Record<string, unknown>): void {
    if (text === "") return;
    if (this.#mode === "developer") input.push(item ?? developerMessage(text));
    else this.#pieces.push(text);
  }

  /** The top-level `instructions` to send, if any. */
  instructions(): string | undefined {
    if (this.#mode === "developer" || this.#pieces.length === 0) return undefined;
    return this.#pieces.join("\n\n");
  }
}
