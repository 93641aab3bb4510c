// Filled in by the foundation work: creates this run's database template and starts the AWS emulator.
export default async function setup(): Promise<() => Promise<void>> {
  return async () => {};
}
