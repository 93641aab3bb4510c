/**
 * Connection URLs as they may appear in logs: the password (userinfo or
 * `?password=` / `?sslpassword=`) is removed. A string that does not parse as
 * a postgres:// URL is not echoed at all — it may be a key=value DSN with a
 * password in it.
 */
export function redactDatabaseUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return "(unparseable database url)";
  }
  if (parsed.protocol !== "postgres:" && parsed.protocol !== "postgresql:") return "(not a postgres:// url)";
  parsed.password = "";
  for (const key of [...parsed.searchParams.keys()]) {
    if (/pass/i.test(key)) parsed.searchParams.delete(key);
  }
  return parsed.toString();
}
