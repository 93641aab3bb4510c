/** Progress for humans on stderr (stdout stays free for machine-readable output). */
export function progress(message: string): void {
  process.stderr.write(`[emulator] ${message}\n`);
}
