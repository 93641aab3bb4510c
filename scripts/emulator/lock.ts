// A cross-process lock made of an exclusively created directory holding the
// owner's pid. Used so that `npm run emulator` and a test run started at the
// same time on a fresh clone install the virtualenv once, not twice at once.
import { mkdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { progress } from "./log.ts";

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

export async function withFileLock<T>(
  path: string,
  fn: () => Promise<T>,
  timeoutMs = 15 * 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let told = false;
  for (;;) {
    try {
      await mkdir(path);
      await writeFile(`${path}/pid`, String(process.pid));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const owner = Number.parseInt(await readFile(`${path}/pid`, "utf8").catch(() => ""), 10);
      // A lock whose owner died (or that never got its pid written and is old) is stale.
      const age = Date.now() - ((await stat(path).catch(() => undefined))?.mtimeMs ?? Date.now());
      if ((Number.isInteger(owner) && !alive(owner)) || (!Number.isInteger(owner) && age > 30_000)) {
        await rm(path, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for lock ${path} (held by pid ${owner})`);
      if (!told) {
        progress(
          `waiting for another process (pid ${Number.isInteger(owner) ? owner : "?"}) that holds ${path}`,
        );
        told = true;
      }
      await sleep(500);
    }
  }
  try {
    return await fn();
  } finally {
    await rm(path, { recursive: true, force: true });
  }
}
