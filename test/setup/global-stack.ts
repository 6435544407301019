// Placeholder until the local stack lands: the full stack is started here once for the suite.
export default async function setup(): Promise<() => Promise<void>> {
  return async () => {};
}
