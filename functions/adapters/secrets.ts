import { getSecret } from '@aws-lambda-powertools/parameters/secrets';

/**
 * Reads a secret's text through Powertools Parameters' cache: the value is fetched from Secrets
 * Manager again once it is older than `maxAgeSeconds`, so a stored or rotated value reaches every
 * warm container within that age, without a redeploy or a restart.
 */
export async function readSecret(arn: string, maxAgeSeconds: number): Promise<string> {
  const value = await getSecret(arn, { maxAge: maxAgeSeconds });
  if (typeof value !== 'string' || value === '') throw new Error(`secret ${secretName(arn)} has no string value`);
  return value;
}

/** The secret's name (the ARN's last part), which an error may show; never its value, account or region. */
export function secretName(arn: string): string {
  return arn.split(':')[6] ?? 'secret';
}

/**
 * Builds a client for an input and keeps it until the input changes (a rotated key): the SDK
 * client, its connections and its token cache live as long as the secret value they were built from.
 */
export function rebuildOnChange<K, T>(build: (input: K) => T): (input: K) => T {
  let last: { key: string; value: T } | undefined;
  return (input) => {
    const key = JSON.stringify(input);
    if (last?.key !== key) last = { key, value: build(input) };
    return last.value;
  };
}

/**
 * A port whose every (async) method first asks `current()` for the instance to use, so the
 * composition roots can build their dependencies once per container while the clients behind
 * them follow the secrets.
 */
export function refreshing<T extends object>(current: () => Promise<T>): T {
  return new Proxy({} as T, {
    get(_target, method) {
      // Not a thenable (it is returned from async factories), and no symbol-keyed behaviour.
      if (method === 'then' || typeof method !== 'string') return undefined;
      return async (...args: unknown[]) => {
        const instance = await current();
        const fn = Reflect.get(instance, method) as (...params: unknown[]) => Promise<unknown>;
        return fn.apply(instance, args);
      };
    },
  });
}
