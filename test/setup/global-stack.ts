import type { TestProject } from 'vitest/node';
import { type StackFacts, startStack } from '../../infra/local/stack';
import { loadWorld } from '../../infra/local/world';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The test stack's facts, as `npm start` writes them to `stack.json`. */
    stack: StackFacts;
    /** A second app client of the same local pool (its tokens must be refused). */
    otherClientId: string;
    /** `sub` of each seeded user, by username. */
    subs: Record<string, string>;
    /** The environment the stack's functions run with, for tests that build their own handler instances. */
    functionEnv: Record<string, string>;
  }
}

/**
 * Starts the same stack as `npm start` once for the whole suite: every port ephemeral, nothing
 * kept on disk, `.onbehalf/` untouched. Torn down when the run ends.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const world = loadWorld();
  const stack = await startStack({
    world,
    port: 0,
    dataDir: undefined,
    env: { ...process.env, POWERTOOLS_LOG_LEVEL: 'SILENT' },
  });
  project.provide('stack', stack.facts);
  project.provide('otherClientId', stack.cognito.otherClientId);
  project.provide(
    'subs',
    Object.fromEntries(world.people.map((person) => [person.username, stack.cognito.subOf(person.username)])),
  );
  project.provide('functionEnv', stack.functionEnv);
  return () => stack.close();
}
