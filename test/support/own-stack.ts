import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Socket, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject } from 'vitest';
import type { ChatSettings } from '../../functions/core/chat';
import type { Faults } from '../../functions/core/faults';
import { startAsana } from '../../infra/local/asana/server';
import { startGateway } from '../../infra/local/gateway';
import { startScalekit } from '../../infra/local/scalekit/server';
import { connectionNamesOf } from '../../infra/local/stack';
import { listen, type LocalService } from '../../infra/local/service';

/** A TCP forwarder that can be switched off (refusing connections): a real outage of what is behind it. */
export async function outageProxy(target: string): Promise<LocalService & { down(): Promise<void>; up(): Promise<void> }> {
  const { hostname, port } = new URL(target);
  const open = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = tcpConnect(Number(port), hostname);
    open.add(client);
    open.add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream).pipe(client);
  });
  const service = await listen(server);
  const ownPort = Number(new URL(service.url).port);
  return {
    ...service,
    down: () =>
      new Promise<void>((done) => {
        for (const socket of open) socket.destroy();
        server.close(() => done());
      }),
    up: () => new Promise<void>((done) => server.listen(ownPort, '127.0.0.1', () => done())),
    close: async () => {
      for (const socket of open) socket.destroy();
      if (server.listening) await service.close();
    },
  };
}

/**
 * A stack of this test file's own: its own Asana and Scalekit (state in a temp folder the test
 * can read), Scalekit reached through an outage proxy, and the real handler modules loaded in
 * this worker behind a gateway of its own. DynamoDB and Cognito are the suite's.
 */
export async function ownStack(
  options: { env?: Record<string, string>; chat?: { settings?: Partial<ChatSettings>; faults?: Faults } } = {},
) {
  const stack = inject('stack');
  const dir = mkdtempSync(join(tmpdir(), 'onbehalf-own-'));
  const asanaClient = { clientId: 'own-client', clientSecret: randomBytes(16).toString('hex') };
  const scalekitSecret = `sks_own_${randomBytes(16).toString('hex')}`;
  const asana = await startAsana({ world: inject('world'), stateFile: join(dir, 'asana.json'), oauthClients: [asanaClient] });
  const scalekit = await startScalekit({
    asanaUrl: asana.url,
    asanaClient,
    clientId: 'skc_own',
    clientSecret: scalekitSecret,
    stateFile: join(dir, 'scalekit.json'),
    connectionNames: connectionNamesOf(options.env ?? {}),
  });
  const proxy = await outageProxy(scalekit.url);
  Object.assign(process.env, inject('functionEnv'), {
    SCALEKIT_ENVIRONMENT_URL: proxy.url,
    SCALEKIT_CLIENT_ID: 'skc_own',
    SCALEKIT_CLIENT_SECRET: scalekitSecret,
    ...options.env,
  });
  const [{ handler: connect }, { handler: verify }, { createChatHandler }, { handler: status }] = await Promise.all([
    import('../../functions/connect/handler'),
    import('../../functions/verify/handler'),
    import('../../functions/chat/handler'),
    import('../../functions/connection-status/handler'),
  ]);
  const gateway = await startGateway({
    port: 0,
    issuer: `${stack.cognito.endpoint}/${stack.cognito.userPoolId}`,
    handlers: { connect, verify, chat: createChatHandler(options.chat) },
    scheduled: { 'connection-status': () => status() },
    webOrigin: process.env.ONBEHALF_WEB_ORIGIN,
  });
  return {
    apiUrl: gateway.url,
    asana,
    scalekit,
    proxy,
    scalekitSecret,
    stateDir: dir,
    close: async () => {
      await gateway.close();
      await proxy.close();
      await scalekit.close();
      await asana.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
