/**
 * The local Scalekit emulator (issue 4): answers `@scalekit-sdk/node` as Scalekit does, so the
 * product runs unchanged with only `SCALEKIT_ENVIRONMENT_URL` pointing here. One port serves the
 * SDK's own `ConnectedAccountService` and `ToolService` descriptors over gRPC (h2c), and over
 * HTTP/1.1 `POST /oauth/token`, the consent hops of authorization links and `_control/*`.
 */
import { createHash } from 'node:crypto';
import { createServer as createHttp1Server } from 'node:http';
import { createServer as createHttp2Server } from 'node:http2';
import { Code, ConnectError, type ConnectRouter, type Interceptor } from '@connectrpc/connect';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import { ConnectedAccountService } from '@scalekit-sdk/node/lib/pkg/grpc/scalekit/v1/connected_accounts/connected_accounts_pb.js';
import { ToolService } from '@scalekit-sdk/node/lib/pkg/grpc/scalekit/v1/tools/tools_pb.js';
import { listen, type LocalService } from '../service';
import { type ConnectionConfig, ConnectedAccounts, type SeedAccount } from './accounts';
import { AsanaOAuthClient } from './asana-oauth';
import { AsanaToolRunner } from './asana-tool-runner';
import { ClientCredentials } from './client-credentials';
import { connectedAccountService } from './connected-account-service';
import { httpRoutes } from './http-routes';
import { onePortServer } from './one-port';
import { RpcControl } from './rpc-control';
import { type AccountStatus, ScalekitStore } from './store';
import { ASANA_PROVIDER } from './tool-catalog';
import { type ToolSettings, toolService } from './tool-service';

export type { SeedAccount } from './accounts';
export type { AccountStatus, ExecutionRecord } from './store';

/** Options of {@link startScalekit}. */
export interface ScalekitOptions {
  /** The local Asana's base URL (REST under `/api/1.0`, OAuth under `/oauth/…`). */
  asanaUrl: string;
  /** Scalekit's OAuth client at Asana (the same credentials go to `startAsana`'s `oauthClients`). */
  asanaClient: { clientId: string; clientSecret: string };
  /** The environment's M2M credentials, as `new ScalekitClient(url, clientId, clientSecret)` uses them. */
  clientId: string;
  clientSecret: string;
  /** 0 or absent: an ephemeral port. */
  port?: number;
  /** Where accounts, links and the executions log persist (`.data/scalekit.json`); absent: memory only. */
  stateFile?: string;
  /** Lifetime of an authorization link and of its pending verification; default 600 s. Fractions allowed. */
  linkTtlSeconds?: number | undefined;
  /** Connection names configured in the environment, all for Asana; default `["asana"]`. */
  connectionNames?: string[];
}

/** A seeded account, as {@link ScalekitEmulator.seedAccounts} returns it. */
export interface SeededAccount {
  id: string;
  connection: string;
  identifier: string;
  status: AccountStatus;
}

/** A running Scalekit emulator (`url` is the SDK's `environmentUrl`), with in-process helpers for tests and benchmarks. */
export interface ScalekitEmulator extends LocalService {
  /**
   * Adds (or updates) many connected accounts at once, without the consent flow: one pass in memory
   * and one state-file write. Seeded `ACTIVE` accounts list tools but hold no usable Asana token.
   */
  seedAccounts(accounts: SeedAccount[]): SeededAccount[];
  /** Makes an account's access token due, so its next tool execution refreshes it first. */
  expireAccessToken(connection: string, identifier: string): void;
}

const connectionId = (name: string): string => `conn_${BigInt(`0x${createHash('sha256').update(name).digest('hex').slice(0, 14)}`)}`;

/** Starts the emulator on `127.0.0.1:<port>`. */
export async function startScalekit(options: ScalekitOptions): Promise<ScalekitEmulator> {
  const connections: ConnectionConfig[] = (options.connectionNames ?? ['asana']).map((name) => ({
    name,
    id: connectionId(name),
    provider: ASANA_PROVIDER,
  }));
  const store = new ScalekitStore(options.stateFile);
  const credentials = new ClientCredentials({ clientId: options.clientId, clientSecret: options.clientSecret });
  const settings: ToolSettings = { latencyMs: 0, toolLatencyMs: {} };
  const asanaUrl = options.asanaUrl.replace(/\/+$/, '');
  const oauth = new AsanaOAuthClient(asanaUrl, options.asanaClient);
  const runner = new AsanaToolRunner(asanaUrl);

  // The environment URL is known only once listening; the services read it lazily through `accounts`.
  let envUrl = '';
  const accounts = new ConnectedAccounts(store, oauth, {
    envUrl: () => envUrl,
    connections,
    linkTtlMs: (options.linkTtlSeconds ?? 600) * 1000,
  });

  const control = new RpcControl(store);
  const requireAccessToken: Interceptor = (next) => async (request) => {
    if (!credentials.accepts(request.header.get('authorization'))) {
      throw new ConnectError('missing, invalid or expired access token', Code.Unauthenticated);
    }
    return next(request);
  };
  const grpc = connectNodeAdapter({
    grpc: true,
    grpcWeb: false,
    connect: false,
    interceptors: [control.log, requireAccessToken, control.inject],
    routes: (router: ConnectRouter) => {
      router.service(ConnectedAccountService, connectedAccountService(accounts, store));
      router.service(ToolService, toolService(accounts, store, runner, settings));
    },
  });

  const http1 = createHttp1Server(httpRoutes({ accounts, store, credentials, settings, control }));
  const http2 = createHttp2Server(grpc);
  const service = await listen(onePortServer(http1, http2), { port: options.port });
  envUrl = service.url;

  return {
    url: service.url,
    async close() {
      await service.close();
      store.flush();
    },
    seedAccounts(seeds) {
      return accounts.seed(seeds).map((a) => ({ id: a.id, connection: a.connectionName, identifier: a.identifier, status: a.status }));
    },
    expireAccessToken(connection, identifier) {
      accounts.expireAccessToken(accounts.find({ connector: connection, identifier }));
    },
  };
}
