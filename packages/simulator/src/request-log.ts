/** One request as the simulator received it: what a test asserts the gateway sent upstream. */
export interface RequestLogEntry {
  seq: number;
  /** Simulator clock, unix ms. */
  at: number;
  transport: "http" | "ws";
  method: string;
  path: string;
  query: string;
  /** Lower-cased header names. For websocket frames: the upgrade request's headers. */
  headers: Record<string, string>;
  /** Decoded body: parsed JSON when it parses, else the text; undefined when bodies are not kept. */
  body?: unknown;
  bodyBytes: number;
  contentEncoding?: string;
  accountId?: string;
  status?: number;
  responseId?: string;
  /** completed | failed | incomplete | error | disconnect | eof | stall | aborted | ws_close | rejected */
  outcome?: string;
  connectionId?: string;
}

export interface RequestLogOptions {
  /** Entries kept (oldest dropped first); 0 turns the log off. Default 1000. */
  limit?: number;
  /** Keep decoded bodies (default true). */
  bodies?: boolean;
}

export interface RequestFilter {
  path?: string;
  accountId?: string;
  transport?: "http" | "ws";
  sinceSeq?: number;
}

/** Bounded ring of request entries; appending is O(1) and nothing is serialised until asked for. */
export class RequestLog {
  readonly limit: number;
  readonly keepBodies: boolean;
  #ring: (RequestLogEntry | undefined)[];
  #next = 0;
  #seq = 0;

  constructor(options: RequestLogOptions = {}) {
    this.limit = Math.max(0, options.limit ?? 1000);
    this.keepBodies = options.bodies ?? true;
    this.#ring = new Array(this.limit);
  }

  get enabled(): boolean {
    return this.limit > 0;
  }

  /** Total entries ever appended (also counts when the log is off). */
  get total(): number {
    return this.#seq;
  }

  append(entry: Omit<RequestLogEntry, "seq">): RequestLogEntry | undefined {
    this.#seq += 1;
    if (this.limit === 0) return undefined;
    const full = entry as RequestLogEntry;
    full.seq = this.#seq;
    this.#ring[this.#next] = full;
    this.#next = (this.#next + 1) % this.limit;
    return full;
  }

  entries(filter: RequestFilter = {}): RequestLogEntry[] {
    const out: RequestLogEntry[] = [];
    for (let i = 0; i < this.limit; i++) {
      const e = this.#ring[(this.#next + i) % this.limit];
      if (!e) continue;
      if (filter.path !== undefined && e.path !== filter.path) continue;
      if (filter.accountId !== undefined && e.accountId !== filter.accountId) continue;
      if (filter.transport !== undefined && e.transport !== filter.transport) continue;
      if (filter.sinceSeq !== undefined && e.seq <= filter.sinceSeq) continue;
      out.push(e);
    }
    return out;
  }

  clear(): void {
    this.#ring = new Array(this.limit);
    this.#next = 0;
  }
}
