import { connectionsDeps, once } from '../adapters/runtime';

/** The composition root of the `connect` function: the connections use cases' dependencies, once per container. */
export const deps = once(connectionsDeps);
