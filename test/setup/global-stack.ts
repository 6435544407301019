import type { TestProject } from 'vitest/node';
import { type StackFacts, startStack } from '../../infra/local/stack';
import { loadWorld, type World } from '../../infra/local/world';

/**
 * Extra people for tests that change a user's connection, so test files never share one:
 * connections.test (tess, theo, tina, toby, tara, tom, tilda, ted), chat.test (tyler, tanya,
 * tobias, trent, troy, tobin), upstream-and-secrets.test (tyra, tad), reliability.test (tao),
 * approvals.test (tia), the bundle test (tristan), the CLI test (tamsin), the Scalekit attack
 * tests (tarik, toril, tage), the edge attack tests (tuva, tove), the injection attack suite
 * (tybalt, tilly), streaming.test (tessa), the console's browser test (tatum),
 * limits.test (tyson, trudy, trixie). `alice` and `bob`
 * are only ever connected, never revoked.
 */
export const TESTERS = [
  'tess',
  'theo',
  'tina',
  'toby',
  'tara',
  'tom',
  'tilda',
  'ted',
  'tyra',
  'tad',
  'tao',
  'tia',
  'tyler',
  'tanya',
  'tobias',
  'trent',
  'troy',
  'tobin',
  'tristan',
  'tamsin',
  'tarik',
  'toril',
  'tage',
  'tuva',
  'tove',
  'tybalt',
  'tilly',
  'tessa',
  'tatum',
  'tyson',
  'trudy',
  'trixie',
] as const;

/** The world the suite runs on: the configured world plus the testers, members of no private project. */
function testWorld(): World {
  const world = loadWorld();
  const people = TESTERS.map((username, i) => ({
    username,
    password: `${username[0]!.toUpperCase()}${username.slice(1)}-pass-1`,
    email: `${username}@testers.test`,
    name: `${username[0]!.toUpperCase()}${username.slice(1)} Tester`,
    asanaGid: String(990001 + i),
  }));
  return { ...world, people: [...world.people, ...people] };
}

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
    /** The world the stack was seeded with. */
    world: World;
  }
}

/**
 * Starts the same stack as `npm start` once for the whole suite: every port ephemeral, nothing
 * kept on disk, `.onbehalf/` untouched. Torn down when the run ends.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  const world = testWorld();
  const stack = await startStack({
    world,
    port: 0,
    dataDir: undefined,
    // The suite sends far more than 60 requests a minute per user; the limits' own tests lower them again.
    env: {
      ONBEHALF_USER_REQUESTS_PER_MINUTE: '1000000',
      ONBEHALF_USER_DAILY_TOKENS: '1000000000000',
      ...process.env,
      POWERTOOLS_LOG_LEVEL: 'SILENT',
      POWERTOOLS_METRICS_DISABLED: 'true',
    },
  });
  project.provide('stack', stack.facts);
  project.provide('otherClientId', stack.cognito.otherClientId);
  project.provide('subs', Object.fromEntries(world.people.map((person) => [person.username, stack.cognito.subOf(person.username)])));
  project.provide('functionEnv', stack.functionEnv);
  project.provide('world', world);
  return () => stack.close();
}
