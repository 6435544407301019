/**
 * A typed client of the local stand-ins' test-only `_control` routes (never deployed): the Claude
 * stand-in's scripts and latency, the Scalekit emulator's latency, account status and executions
 * log, the Asana emulator's request log, and the gateway's scheduled-function trigger. Shared by
 * the tests (`test/support/`) and the bench; it imports nothing of vitest, so it runs under tsx.
 * The log entries' types are the stand-ins' own.
 */
import type { StatusCheckSummary } from '../../functions/core/connections';
import type { RequestLogEntry } from '../../infra/local/asana/store';
import type { StackFacts } from '../../infra/local/stack';
import type { Fault, RpcRecord } from '../../infra/local/scalekit/rpc-control';
import type { AccountStatus, ExecutionRecord } from '../../infra/local/scalekit/store';

export type { RequestLogEntry as AsanaRequest } from '../../infra/local/asana/store';
export type { ExecutionRecord as Execution } from '../../infra/local/scalekit/store';
export type { RpcRecord as ScalekitRpc } from '../../infra/local/scalekit/rpc-control';

/** A control route answered something other than 2xx. */
export class ControlError extends Error {
  constructor(
    readonly url: string,
    readonly status: number,
    readonly body: string,
  ) {
    super(`${url}: ${status} ${body}`);
    this.name = 'ControlError';
  }
}

async function send<T>(method: 'GET' | 'POST' | 'DELETE', url: string, body?: unknown): Promise<T> {
  const response = await fetch(url, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new ControlError(url, response.status, text);
  return JSON.parse(text) as T;
}

/** The newest sequence number of a log, for a cursor of the caller's own. */
export const cursor = async (log: () => Promise<readonly { seq: number }[]>): Promise<number> => (await log()).at(-1)?.seq ?? 0;

/** The Claude stand-in at `modelUrl` (the SDK's `baseURL`). */
export function modelControl(modelUrl: string) {
  return {
    /**
     * Answers requests whose first user message contains `match` with `turns[k]`, `k` the number of
     * assistant messages already in the request; the newest matching script wins. With
     * `contextWindowTokens`, a request of more input tokens is refused as too long (`400`).
     */
    script: (match: string, turns: readonly unknown[], options: { contextWindowTokens?: number } = {}) =>
      send<{ ok: true; scripts: number }>('POST', `${modelUrl}/_control/scripts`, { match, turns, ...options }),
    scripts: async () => (await send<{ scripts: { match: string; turns: number }[] }>('GET', `${modelUrl}/_control/scripts`)).scripts,
    clearScripts: () => send<{ ok: true; removed: number }>('DELETE', `${modelUrl}/_control/scripts`),
    /** Added delay per model response (a streamed one spreads its deltas over it). */
    setLatency: (ms: number) => send<{ ok: true; ms: number }>('POST', `${modelUrl}/_control/latency`, { ms }),
    latency: async () => (await send<{ ms: number }>('GET', `${modelUrl}/_control/latency`)).ms,
    /** How each Messages request ended: still `pending`, `answered`, or `aborted` by its client. */
    requests: async () =>
      (
        await send<{ requests: { seq: number; stream: boolean; outcome: 'pending' | 'answered' | 'aborted' }[] }>(
          'GET',
          `${modelUrl}/_control/requests`,
        )
      ).requests,
    /** Scripts, latency and prompt cache back to their start. */
    reset: () => send<{ ok: true }>('POST', `${modelUrl}/_control/reset`),
  };
}

/** The Scalekit emulator at `environmentUrl` (the SDK's `environmentUrl`). */
export function scalekitControl(environmentUrl: string) {
  const account = (identifier: string, connection: string) => ({ connection, identifier });
  return {
    /** Added delay per tool execution. */
    /** Delays every tool execution by `ms`, or, with `toolName`, that tool's only (`ms` 0 removes it). */
    setLatency: (ms: number, toolName?: string) =>
      send<{ ms: number; toolName?: string }>(
        'POST',
        `${environmentUrl}/_control/latency`,
        toolName === undefined ? { ms } : { ms, toolName },
      ),
    /** Sets a connected account's status, as when the user revokes access at Asana. */
    setAccountStatus: (identifier: string, status: 'EXPIRED' | 'DISCONNECTED', connection = 'asana') =>
      send<{ id: string; connection: string; identifier: string; status: AccountStatus }>(
        'POST',
        `${environmentUrl}/_control/connected-accounts/status`,
        { ...account(identifier, connection), status },
      ),
    /** Expires the account's stored Asana access token, so the next execution refreshes it. */
    expireToken: (identifier: string, connection = 'asana') =>
      send<{ id: string }>('POST', `${environmentUrl}/_control/connected-accounts/expire-token`, account(identifier, connection)),
    /** Creates connected accounts directly (for paging and scale). */
    seedAccounts: (
      body:
        | { accounts: { identifier: string; connection?: string; status?: AccountStatus }[] }
        | { count: number; identifierPrefix?: string; connection?: string; status?: AccountStatus },
    ) => send<{ seeded: number }>('POST', `${environmentUrl}/_control/connected-accounts/seed`, body),
    /** Every tool execution with `seq > since`, in order. */
    executions: async (since = 0) =>
      (await send<{ executions: ExecutionRecord[] }>('GET', `${environmentUrl}/_control/executions?since=${since}`)).executions,
    /**
     * The next `times` authenticated calls of `rpc` answer the gRPC status `code` (`UNAVAILABLE`, …);
     * with `afterExecuting` the call really runs first. Applies to every caller of the emulator:
     * give faults only to a Scalekit of a test's own.
     */
    setFault: (fault: { rpc: string; code: string; times: number; afterExecuting?: boolean }) =>
      send<Fault>('POST', `${environmentUrl}/_control/faults`, fault),
    /** Every RPC with `seq > since`, in order, with its identifier and the code it was answered. */
    rpcs: async (since = 0) => (await send<{ rpcs: RpcRecord[] }>('GET', `${environmentUrl}/_control/rpcs?since=${since}`)).rpcs,
  };
}

/** The Asana emulator at `asanaUrl` (REST under `/api/1.0`). */
export function asanaControl(asanaUrl: string) {
  return {
    /** Every `/api/1.0` call with `seq > since`, in order, with the Asana user its token belongs to. */
    requests: async (since = 0) =>
      (await send<{ requests: RequestLogEntry[] }>('GET', `${asanaUrl}/_control/requests?since=${since}`)).requests,
  };
}

/** The local gateway at `apiUrl`. */
export function gatewayControl(apiUrl: string) {
  return {
    /** Runs the scheduled status check once and returns its summary. */
    runConnectionStatus: () => send<StatusCheckSummary>('POST', `${apiUrl}/_control/run/connection-status`),
  };
}

/** Every control surface of one running stack. */
export function stackControl(facts: Pick<StackFacts, 'modelUrl' | 'asanaUrl' | 'apiUrl' | 'scalekit'>) {
  return {
    model: modelControl(facts.modelUrl),
    scalekit: scalekitControl(facts.scalekit.environmentUrl),
    asana: asanaControl(facts.asanaUrl),
    gateway: gatewayControl(facts.apiUrl),
  };
}
export type StackControl = ReturnType<typeof stackControl>;
