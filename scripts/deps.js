// Shared by `npm test`, `npm start` and `npm run bench`: a fresh clone (or a
// changed lock file) installs the locked dependencies before anything runs.
import { spawnSync } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const root = join(dirname(fileURLToPath(import.meta.url)), "..");

/** True when node_modules is missing or older than package-lock.json. */
export function dependenciesStale() {
  const marker = join(root, "node_modules", ".package-lock.json");
  const lock = join(root, "package-lock.json");
  return !existsSync(marker) || statSync(marker).mtimeMs < statSync(lock).mtimeMs;
}

/** Runs `npm ci` when the dependencies are stale; false if it failed. */
export function installIfStale() {
  if (!dependenciesStale()) return true;
  process.stderr.write("Installing dependencies (npm ci)…\n");
  return spawnSync("npm", ["ci", "--no-audit", "--no-fund"], { cwd: root, stdio: "inherit" }).status === 0;
}
