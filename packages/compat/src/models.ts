/**
 * GET /v1/models from the pool's catalog: the OpenAI list shape plus
 * `context_length` where the catalog knows the context window. Nothing
 * Codex-specific (serving mode, reasoning presets, …) leaks into it.
 */

export interface CatalogModel {
  slug: string;
  context_window?: number;
  display_name?: string;
}

/**
 * Example: `modelsList([{ slug: "gpt-5.4", context_window: 272000 }], 0)` →
 * `{"object":"list","data":[{"id":"gpt-5.4","object":"model","created":0,"owned_by":"openai","context_length":272000}]}`.
 * Duplicate slugs (several accounts reporting one model) appear once, first wins.
 */
export function modelsList(catalog: ReadonlyArray<CatalogModel>, created: number): Record<string, unknown> {
  const seen = new Set<string>();
  const data: Record<string, unknown>[] = [];
  for (const m of catalog) {
    if (seen.has(m.slug)) continue;
    seen.add(m.slug);
    const entry: Record<string, unknown> = { id: m.slug, object: "model", created, owned_by: "openai" };
    if (typeof m.context_window === "number" && Number.isFinite(m.context_window) && m.context_window > 0) {
      entry["context_length"] = m.context_window;
    }
    data.push(entry);
  }
  return { object: "list", data };
}
