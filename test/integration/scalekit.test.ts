import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient, Code, ConnectError } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import {
  isToolException,
  ScalekitBadRequestException,
  ScalekitClient,
  ScalekitForbiddenException,
  ScalekitNotFoundException,
  ScalekitToolException,
  ScalekitToolForbiddenException,
  ScalekitToolUnauthorizedException,
} from '@scalekit-sdk/node';
import {
  ConnectedAccountService,
  ConnectorStatus,
} from '@scalekit-sdk/node/lib/pkg/grpc/scalekit/v1/connected_accounts/connected_accounts_pb.js';
import { ToolService } from '@scalekit-sdk/node/lib/pkg/grpc/scalekit/v1/tools/tools_pb.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { completeConsent, ConsentError } from '../../client/consent';
import catalog from '../../functions/core/asana-tools.json';
import { type AsanaEmulator, startAsana } from '../../infra/local/asana/server';
import { type ScalekitEmulator, startScalekit } from '../../infra/local/scalekit/server';
import { loadWorld, type World } from '../../infra/local/world';
import { asanaControl, cursor, scalekitControl } from '../stack/control';

// The real @scalekit-sdk/node over real sockets against the Scalekit emulator, which runs every
// tool against the Asana emulator with the connected account's own token.

const asanaClient = { clientId: 'scalekit-test', clientSecret: `asana-${randomUUID()}` };
const m2m = { clientId: 'skc_test', clientSecret: `sks_${randomUUID()}` };
const VERIFY_URL = 'http://127.0.0.1:9/connections/verify';
const READ_TOOLS = catalog
  .filter((t) => t.kind === 'read')
  .map((t) => t.name)
  .sort();

let world: World;
let asana: AsanaEmulator;
let scalekit: ScalekitEmulator;
let client: ScalekitClient;

beforeAll(async () => {
  world = loadWorld();
  asana = await startAsana({ world, oauthClients: [asanaClient] });
  scalekit = await startScalekit({ asanaUrl: asana.url, asanaClient, ...m2m });
  client = new ScalekitClient(scalekit.url, m2m.clientId, m2m.clientSecret);
});
afterAll(async () => {
  await scalekit?.close();
  await asana?.close();
});

// ── helpers ──────────────────────────────────────────────────────────────────

const person = (username: 'alice' | 'bob') => {
  const found = world.people.find((p) => p.username === username);
  if (!found) throw new Error(`no ${username} in the world`);
  return found;
};

/** A fresh identifier per test (the product uses the Cognito `sub`), so tests never share accounts. */
const newIdentifier = (): string => `sub-${randomUUID()}`;

/** The rejection of a promise that must fail. */
async function failure(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to fail');
}

async function statusOf(identifier: string): Promise<ConnectorStatus | undefined> {
  const { connectedAccount } = await client.actions.getConnectedAccount({ connectionName: 'asana', identifier });
  return connectedAccount?.status;
}

/** get-or-create → link → consent in the Asana form; answers the verify URL the browser lands on. */
async function consent(identifier: string, username: 'alice' | 'bob', scope: 'read' | 'write' = 'write', state = randomUUID()) {
  await client.actions.getOrCreateConnectedAccount({ connectionName: 'asana', identifier });
  const { link } = await client.actions.getAuthorizationLink({ connectionName: 'asana', identifier, state, userVerifyUrl: VERIFY_URL });
  const { email, password } = person(username);
  const landing = await completeConsent(link, { email, password, scope });
  return { link, landing, authRequestId: landing.searchParams.get('auth_request_id') ?? '', state };
}

/** A fully connected (ACTIVE) account for `username`'s Asana user. */
async function connect(username: 'alice' | 'bob', scope: 'read' | 'write' = 'write'): Promise<{ identifier: string; id: string }> {
  const identifier = newIdentifier();
  const { authRequestId } = await consent(identifier, username, scope);
  await client.actions.verifyConnectedAccountUser({ authRequestId, identifier });
  const { connectedAccount } = await client.actions.getConnectedAccount({ connectionName: 'asana', identifier });
  return { identifier, id: connectedAccount?.id ?? '' };
}

const scalekitLog = () => scalekitControl(scalekit.url);
const executionsSince = (since: number) => scalekitLog().executions(since);
const executionCursor = () => cursor(() => executionsSince(0));
const asanaRequestsSince = (since: number) => asanaControl(asana.url).requests(since);
const asanaCursor = () => cursor(() => asanaRequestsSince(0));

const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

// ── tests ────────────────────────────────────────────────────────────────────

describe('Scalekit emulator: transport and M2M credentials', () => {
  it('answers an RPC without a token Unauthenticated, which the SDK answers by fetching one', async () => {
    // Prepare: a bare gRPC client of the SDK's own service descriptor, with no token
    const bare = createClient(ConnectedAccountService, createGrpcTransport({ baseUrl: scalekit.url }));
    // Act
    const error = await failure(bare.listConnectedAccounts({}));
    // Assess
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).code).toBe(Code.Unauthenticated);
    const fresh = new ScalekitClient(scalekit.url, m2m.clientId, m2m.clientSecret);
    await expect(fresh.actions.listConnectedAccounts({ connectionNames: ['asana'] })).resolves.toBeDefined();
  });

  it('refuses a wrong client secret', async () => {
    const token = await fetch(`${scalekit.url}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: m2m.clientId, client_secret: 'wrong' }),
    });
    expect(token.status).toBe(401);
    const impostor = new ScalekitClient(scalekit.url, m2m.clientId, 'wrong');
    const refused = await failure(impostor.actions.getConnectedAccount({ connectionName: 'asana', identifier: newIdentifier() }));
    // The SDK surfaces the token endpoint's answer as it came (an axios error with the 401 response).
    expect((refused as { response?: { status?: number } }).response?.status).toBe(401);
  });
});

describe('Scalekit emulator: connected accounts and consent', () => {
  it('runs get-or-create → link → consent → verify → ACTIVE → scoped tools → execute', async () => {
    // Prepare
    const identifier = newIdentifier();
    const executions = await executionCursor();
    // Act: get-or-create, twice (the second call is the "get" half)
    const created = await client.actions.getOrCreateConnectedAccount({ connectionName: 'asana', identifier });
    const again = await client.actions.getOrCreateConnectedAccount({ connectionName: 'asana', identifier });
    // Assess
    expect(created.connectedAccount?.status).toBe(ConnectorStatus.PENDING_AUTH);
    expect(again.connectedAccount?.id).toBe(created.connectedAccount?.id);

    // Act: the link, through the consent form over HTTP
    const state = randomUUID();
    const { link, expiry } = await client.actions.getAuthorizationLink({
      connectionName: 'asana',
      identifier,
      state,
      userVerifyUrl: VERIFY_URL,
    });
    expect(link.startsWith(`${scalekit.url}/`)).toBe(true);
    expect(Number(expiry?.seconds)).toBeGreaterThan(Date.now() / 1000);
    const landing = await completeConsent(link, { email: person('alice').email, password: person('alice').password });
    // Assess: the browser lands on userVerifyUrl with auth_request_id and the app's own state
    expect(`${landing.origin}${landing.pathname}`).toBe(VERIFY_URL);
    expect(landing.searchParams.get('state')).toBe(state);
    const authRequestId = landing.searchParams.get('auth_request_id') ?? '';
    expect(authRequestId).not.toBe('');
    expect(await statusOf(identifier)).toBe(ConnectorStatus.PENDING_VERIFICATION);

    // Act: verify
    await client.actions.verifyConnectedAccountUser({ authRequestId, identifier });
    expect(await statusOf(identifier)).toBe(ConnectorStatus.ACTIVE);

    // Act: scoped tools
    const scoped = await client.tools.listScopedTools(identifier, { filter: { connectionNames: ['asana'] }, pageSize: 50 });
    // Assess: every catalog tool, as name, description and input_schema
    const definitions = scoped.tools.map((t) => t.tool?.definition);
    expect(definitions.map((d) => d?.name).sort()).toEqual(catalog.map((t) => t.name).sort());
    const taskCreate = catalog.find((t) => t.name === 'asana_task_create');
    expect(definitions.find((d) => d?.name === 'asana_task_create')).toEqual({
      name: 'asana_task_create',
      description: taskCreate?.description,
      input_schema: taskCreate?.input_schema,
    });
    expect(new Set(scoped.tools.map((t) => t.connectedAccountId))).toEqual(new Set([created.connectedAccount?.id]));

    // Act: execute
    const result = await client.actions.executeTool({ toolName: 'asana_me_get', toolInput: {}, identifier, connector: 'asana' });
    // Assess
    expect(result.data).toMatchObject({ data: { gid: person('alice').asanaGid, name: person('alice').name } });
    expect(result.executionId).not.toBe('');
    const logged = await executionsSince(executions);
    expect(logged).toEqual([
      {
        seq: executions + 1,
        executionId: result.executionId,
        toolName: 'asana_me_get',
        identifier,
        connectedAccountId: created.connectedAccount?.id,
        startedAt: expect.stringMatching(ISO_MS),
        finishedAt: expect.stringMatching(ISO_MS),
        outcome: 'succeeded',
      },
    ]);
  });

  it('verifies only for the identifier the link was made for; a consumed request cannot be verified again', async () => {
    // Prepare
    const identifier = newIdentifier();
    const { link, authRequestId } = await consent(identifier, 'alice');
    // Act: someone else's session completes the verify
    const stolen = await failure(client.actions.verifyConnectedAccountUser({ authRequestId, identifier: newIdentifier() }));
    // Assess: refused, nothing consumed, still unverified
    expect(stolen).toBeInstanceOf(ScalekitForbiddenException);
    expect(await statusOf(identifier)).toBe(ConnectorStatus.PENDING_VERIFICATION);
    expect((await client.tools.listScopedTools(identifier, { filter: { connectionNames: ['asana'] } })).tools).toEqual([]);

    // Act: the rightful verify still succeeds
    await client.actions.verifyConnectedAccountUser({ authRequestId, identifier });
    expect(await statusOf(identifier)).toBe(ConnectorStatus.ACTIVE);

    // Act: replays, and a request that never existed
    const replay = await failure(client.actions.verifyConnectedAccountUser({ authRequestId, identifier }));
    const unknown = await failure(client.actions.verifyConnectedAccountUser({ authRequestId: `ar_${randomUUID()}`, identifier }));
    expect(replay).toBeInstanceOf(ScalekitNotFoundException);
    expect(unknown).toBeInstanceOf(ScalekitNotFoundException);
    // A link starts one authorization only.
    const reused = await failure(completeConsent(link, { email: person('alice').email, password: person('alice').password }));
    expect((reused as ConsentError).status).toBe(410);
  });

  it('lets links and their pending verification expire', async () => {
    // Prepare: an emulator of its own with 300 ms links
    const shortLived = await startScalekit({ asanaUrl: asana.url, asanaClient, ...m2m, linkTtlSeconds: 0.3 });
    try {
      const sdk = new ScalekitClient(shortLived.url, m2m.clientId, m2m.clientSecret);
      const [consented, idle] = [newIdentifier(), newIdentifier()];
      const links: string[] = [];
      for (const identifier of [consented, idle]) {
        await sdk.actions.getOrCreateConnectedAccount({ connectionName: 'asana', identifier });
        const { link } = await sdk.actions.getAuthorizationLink({
          connectionName: 'asana',
          identifier,
          state: 's',
          userVerifyUrl: VERIFY_URL,
        });
        links.push(link);
      }
      const { email, password } = person('alice');
      const landing = await completeConsent(links[0] ?? '', { email, password });
      // Act
      await new Promise((resolve) => setTimeout(resolve, 400));
      const lateConsent = await failure(completeConsent(links[1] ?? '', { email, password }));
      const lateVerify = await failure(
        sdk.actions.verifyConnectedAccountUser({ authRequestId: landing.searchParams.get('auth_request_id') ?? '', identifier: consented }),
      );
      // Assess
      expect(lateConsent).toBeInstanceOf(ConsentError);
      expect((lateConsent as ConsentError).status).toBe(410);
      expect(lateVerify).toBeInstanceOf(ScalekitNotFoundException);
      const { connectedAccount } = await sdk.actions.getConnectedAccount({ connectionName: 'asana', identifier: consented });
      expect(connectedAccount?.status).toBe(ConnectorStatus.PENDING_VERIFICATION);
    } finally {
      await shortLived.close();
    }
  });

  it('keeps accounts and the executions log across a restart with a state file', async () => {
    // Prepare
    const dir = await mkdtemp(join(tmpdir(), 'scalekit-'));
    const stateFile = join(dir, 'scalekit.json');
    const identifier = newIdentifier();
    let first: ScalekitEmulator | undefined = await startScalekit({ asanaUrl: asana.url, asanaClient, ...m2m, stateFile });
    let second: ScalekitEmulator | undefined;
    try {
      const before = new ScalekitClient(first.url, m2m.clientId, m2m.clientSecret);
      await before.actions.getOrCreateConnectedAccount({ connectionName: 'asana', identifier });
      const { link } = await before.actions.getAuthorizationLink({
        connectionName: 'asana',
        identifier,
        state: 's',
        userVerifyUrl: VERIFY_URL,
      });
      const landing = await completeConsent(link, { email: person('bob').email, password: person('bob').password });
      await before.actions.verifyConnectedAccountUser({ authRequestId: landing.searchParams.get('auth_request_id') ?? '', identifier });
      await before.actions.executeTool({ toolName: 'asana_me_get', toolInput: {}, identifier });
      // Act
      await first.close();
      first = undefined;
      second = await startScalekit({ asanaUrl: asana.url, asanaClient, ...m2m, stateFile });
      const after = new ScalekitClient(second.url, m2m.clientId, m2m.clientSecret);
      const result = await after.actions.executeTool({ toolName: 'asana_me_get', toolInput: {}, identifier });
      // Assess
      expect(result.data).toMatchObject({ data: { gid: person('bob').asanaGid } });
      const log = await scalekitControl(second.url).executions();
      expect(log.map((e) => [e.seq, e.identifier])).toEqual([
        [1, identifier],
        [2, identifier],
      ]);
    } finally {
      await first?.close();
      await second?.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('lists accounts in pages, filtered by connection names', async () => {
    // Prepare
    const prefix = `list-${randomUUID()}-`;
    scalekit.seedAccounts(Array.from({ length: 25 }, (_, i) => ({ identifier: `${prefix}${i}` })));
    // Act: walk the pages
    const seen: string[] = [];
    let pageToken: string | undefined;
    let pages = 0;
    do {
      const page = await client.actions.listConnectedAccounts({ connectionNames: ['asana'], query: prefix, pageSize: 10, pageToken });
      expect(page.totalSize).toBe(25);
      seen.push(...page.connectedAccounts.map((a) => a.identifier));
      pageToken = page.nextPageToken || undefined;
      pages += 1;
    } while (pageToken);
    const otherConnection = await client.actions.listConnectedAccounts({ connectionNames: ['slack'], query: prefix });
    // Assess
    expect(pages).toBe(3);
    expect(seen.sort()).toEqual(Array.from({ length: 25 }, (_, i) => `${prefix}${i}`).sort());
    expect(otherConnection.connectedAccounts).toEqual([]);
  });

  it('seeds many accounts at once for the status checker', async () => {
    // Prepare
    const prefix = `seed-${randomUUID()}-`;
    // Act
    const seeded = await scalekitLog().seedAccounts({ count: 2000, identifierPrefix: prefix, status: 'EXPIRED' });
    const one = await client.actions.getConnectedAccount({ connectionName: 'asana', identifier: `${prefix}1999` });
    const page = await client.actions.listConnectedAccounts({ connectionNames: ['asana'], query: prefix, pageSize: 100 });
    // Assess
    expect(seeded).toEqual({ seeded: 2000 });
    expect(one.connectedAccount?.status).toBe(ConnectorStatus.EXPIRED);
    expect(page.totalSize).toBe(2000);
    expect(page.connectedAccounts).toHaveLength(100);
  });

  it('deletes an account and revokes its grant at Asana', async () => {
    // Prepare
    const { identifier } = await connect('bob');
    const { connectedAccount } = await client.actions.getConnectedAccount({ connectionName: 'asana', identifier });
    const details = connectedAccount?.authorizationDetails?.details;
    const accessToken = details?.case === 'oauthToken' ? details.value.accessToken : '';
    const me = () => fetch(`${asana.url}/api/1.0/users/me`, { headers: { authorization: `Bearer ${accessToken}` } });
    expect((await me()).status).toBe(200);
    // Act
    await client.actions.deleteConnectedAccount({ connectionName: 'asana', identifier });
    // Assess
    expect((await me()).status).toBe(401);
    await expect(client.actions.getConnectedAccount({ connectionName: 'asana', identifier })).rejects.toBeInstanceOf(
      ScalekitNotFoundException,
    );
    await expect(client.actions.deleteConnectedAccount({ connectionName: 'asana', identifier })).rejects.toBeInstanceOf(
      ScalekitNotFoundException,
    );
  });
});

describe('Scalekit emulator: tokens and account status', () => {
  it('refreshes an expired access token before executing', async () => {
    // Prepare
    const { identifier } = await connect('alice');
    const tokenOf = async () => {
      const details = (await client.actions.getConnectedAccount({ connectionName: 'asana', identifier })).connectedAccount
        ?.authorizationDetails?.details;
      return details?.case === 'oauthToken' ? details.value.accessToken : '';
    };
    const before = await tokenOf();
    const requests = await asanaCursor();
    // Act: due at the emulator, then refused by Asana itself
    scalekit.expireAccessToken('asana', identifier);
    const first = await client.actions.executeTool({ toolName: 'asana_me_get', toolInput: {}, identifier, connector: 'asana' });
    const afterFirst = await tokenOf();
    asana.expireAccessTokens(person('alice').asanaGid);
    const second = await client.actions.executeTool({ toolName: 'asana_me_get', toolInput: {}, identifier, connector: 'asana' });
    // Assess
    expect(first.data).toMatchObject({ data: { gid: person('alice').asanaGid } });
    expect(second.data).toMatchObject({ data: { gid: person('alice').asanaGid } });
    expect(afterFirst).not.toBe(before);
    expect(await tokenOf()).not.toBe(afterFirst);
    const calls = (await asanaRequestsSince(requests)).filter((r) => r.path === '/api/1.0/users/me');
    expect(calls.map((r) => r.status)).toEqual([200, 401, 200]);
    expect(await statusOf(identifier)).toBe(ConnectorStatus.ACTIVE);
  });

  it('moves the account to EXPIRED when the refresh fails, then refuses to execute', async () => {
    // Prepare: the user revokes the grant in Asana
    const { identifier } = await connect('alice');
    const details = (await client.actions.getConnectedAccount({ connectionName: 'asana', identifier })).connectedAccount
      ?.authorizationDetails?.details;
    const refreshToken = details?.case === 'oauthToken' ? details.value.refreshToken : '';
    await fetch(`${asana.url}/oauth/revoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: refreshToken, ...{ client_id: asanaClient.clientId, client_secret: asanaClient.clientSecret } }),
    });
    const executions = await executionCursor();
    // Act
    const failed = await failure(client.actions.executeTool({ toolName: 'asana_me_get', toolInput: {}, identifier, connector: 'asana' }));
    const refused = await failure(client.actions.executeTool({ toolName: 'asana_me_get', toolInput: {}, identifier, connector: 'asana' }));
    // Assess
    expect(failed).toBeInstanceOf(ScalekitToolUnauthorizedException);
    expect(isToolException(failed)).toBe(true);
    expect(await statusOf(identifier)).toBe(ConnectorStatus.EXPIRED);
    expect(refused).toBeInstanceOf(ScalekitBadRequestException);
    expect(isToolException(refused)).toBe(false);
    expect((refused as ScalekitBadRequestException).errorCode).toBe('CONNECTED_ACCOUNT_NOT_ACTIVE');
    expect((await executionsSince(executions)).map((e) => e.outcome)).toEqual(['failed']);
    expect((await client.tools.listScopedTools(identifier, { filter: { connectionNames: ['asana'] } })).tools).toEqual([]);
  });

  it.each(['EXPIRED', 'DISCONNECTED'] as const)('refuses execution on an account set %s through _control', async (status) => {
    // Prepare
    const { identifier } = await connect('bob');
    const [executions, requests] = [await executionCursor(), await asanaCursor()];
    // Act
    const set = await scalekitLog().setAccountStatus(identifier, status);
    const refused = await failure(client.actions.executeTool({ toolName: 'asana_me_get', toolInput: {}, identifier }));
    // Assess
    expect(set).toMatchObject({ connection: 'asana', identifier, status });
    expect(await statusOf(identifier)).toBe(ConnectorStatus[status]);
    expect(refused).toBeInstanceOf(ScalekitBadRequestException);
    expect((refused as ScalekitBadRequestException).errorCode).toBe('CONNECTED_ACCOUNT_NOT_ACTIVE');
    expect(await executionsSince(executions)).toEqual([]);
    expect(await asanaRequestsSince(requests)).toEqual([]);
  });
});

describe('Scalekit emulator: tools run as the user', () => {
  it("reads Leadership OKR as Alice; Bob gets Asana's refusal as a tool exception, made by Bob's Asana user", async () => {
    // Prepare
    const [alice, bob] = [await connect('alice'), await connect('bob')];
    const requests = await asanaCursor();
    // Act
    const read = await client.actions.executeTool({
      toolName: 'asana_project_tasks_list',
      toolInput: { project_gid: '1302' },
      connectedAccountId: alice.id,
    });
    const refused = await failure(
      client.actions.executeTool({ toolName: 'asana_project_tasks_list', toolInput: { project_gid: '1302' }, identifier: bob.identifier }),
    );
    // Assess
    expect(read.data).toMatchObject({ data: [{ name: 'FY27 revenue target' }, { name: 'Reorg plan for EMEA' }] });
    expect(refused).toBeInstanceOf(ScalekitToolException);
    expect(isToolException(refused)).toBe(true);
    expect((refused as ScalekitToolException).executionId).not.toBe('');
    expect((refused as ScalekitToolException).toolErrorCode).toBe('404');
    const calls = (await asanaRequestsSince(requests)).map(({ method, path, asanaUserGid, status }) => ({
      method,
      path,
      asanaUserGid,
      status,
    }));
    expect(calls).toEqual([
      { method: 'GET', path: '/api/1.0/projects/1302/tasks', asanaUserGid: person('alice').asanaGid, status: 200 },
      { method: 'GET', path: '/api/1.0/projects/1302/tasks', asanaUserGid: person('bob').asanaGid, status: 404 },
    ]);
  });

  it('lists no write tools for a read-only grant, and Asana refuses a write under it', async () => {
    // Prepare
    const { identifier } = await connect('alice', 'read');
    // Act
    const scoped = await client.tools.listScopedTools(identifier, { filter: { connectionNames: ['asana'] } });
    const write = await failure(
      client.actions.executeTool({
        toolName: 'asana_task_create',
        toolInput: { name: 'x', workspace_gid: '1100' },
        identifier,
        connector: 'asana',
      }),
    );
    // Assess
    expect(scoped.tools.map((t) => String(t.tool?.definition?.name)).sort()).toEqual(READ_TOOLS);
    expect(write).toBeInstanceOf(ScalekitToolForbiddenException);
  });

  it('validates the input against the tool schema before anything runs', async () => {
    // Prepare
    const { identifier } = await connect('alice');
    const requests = await asanaCursor();
    const run = (toolName: string, toolInput: Record<string, unknown>) =>
      failure(client.actions.executeTool({ toolName, toolInput, identifier, connector: 'asana' }));
    // Act
    const missing = await run('asana_project_tasks_list', {});
    const wrongType = await run('asana_task_update', { task_gid: '1401', completed: 'yes' });
    const nulled = await run('asana_me_get', { opt_fields: null });
    const unknownTool = await run('asana_everything_delete', {});
    // Assess
    for (const error of [missing, wrongType, nulled]) {
      expect(error).toBeInstanceOf(ScalekitBadRequestException);
      expect((error as ScalekitBadRequestException).errorCode).toBe('INVALID_TOOL_INPUT');
    }
    expect(unknownTool).toBeInstanceOf(ScalekitNotFoundException);
    expect(await asanaRequestsSince(requests)).toEqual([]);
  });

  it("writes as the user: a comment on Alice's task is authored by Alice", async () => {
    // Prepare
    const { identifier } = await connect('alice');
    const text = `note ${randomUUID()}`;
    // Act
    const created = await client.actions.executeTool({ toolName: 'asana_story_create', toolInput: { task_gid: '1401', text }, identifier });
    const stories = await client.actions.executeTool({
      toolName: 'asana_task_stories_list',
      toolInput: { task_gid: '1401', opt_fields: 'text,created_by' },
      identifier,
    });
    // Assess
    expect(created.data).toMatchObject({ data: { text } });
    expect(stories.data?.data).toEqual(
      expect.arrayContaining([expect.objectContaining({ text, created_by: expect.objectContaining({ gid: person('alice').asanaGid }) })]),
    );
  });

  it('delays only the tool a latency names: other tools and RPCs answer meanwhile', async () => {
    // Prepare
    const { identifier } = await connect('bob');
    const executions = await executionCursor();
    expect(await scalekitLog().setLatency(10_000, 'asana_me_get')).toEqual({ ms: 10_000, toolName: 'asana_me_get' });
    let slowDone = false;
    // Act
    const slow = client.actions.executeTool({ toolName: 'asana_me_get', toolInput: {}, identifier }).finally(() => {
      slowDone = true;
    });
    const listed = await client.tools.listScopedTools(identifier, { filter: { connectionNames: ['asana'] }, pageSize: 5 });
    const fast = await client.actions.executeTool({ toolName: 'asana_workspaces_list', toolInput: {}, identifier });
    // Assess: the other tool ran to the end while the named one still waited.
    expect(listed.tools.length).toBeGreaterThan(0);
    expect(fast.data).toBeDefined();
    expect(slowDone).toBe(false);
    expect((await executionsSince(executions)).map((entry) => entry.toolName)).toEqual(['asana_workspaces_list']);
    // The named tool still runs, after the other one.
    await scalekitLog().setLatency(0, 'asana_me_get');
    expect((await slow).data).toBeDefined();
    expect((await executionsSince(executions)).map((entry) => entry.toolName)).toEqual(['asana_workspaces_list', 'asana_me_get']);
  });

  it('adds the configured latency to every execution', async () => {
    // Prepare
    const { identifier } = await connect('bob');
    const executions = await executionCursor();
    // Act
    expect(await scalekitLog().setLatency(150)).toEqual({ ms: 150 });
    try {
      await client.actions.executeTool({ toolName: 'asana_me_get', toolInput: {}, identifier });
    } finally {
      await scalekitLog().setLatency(0);
    }
    // Assess
    const [entry] = await executionsSince(executions);
    expect(Date.parse(entry?.finishedAt ?? '') - Date.parse(entry?.startedAt ?? '')).toBeGreaterThanOrEqual(150);
  });
});

describe('Scalekit emulator: fault injection and the RPC log', () => {
  const rpcsSince = (since: number) => scalekitControl(scalekit.url).rpcs(since);
  const rpcCursor = () => cursor(() => rpcsSince(0));
  /** The raw route, so a refusal can be seen as its status. */
  const faultRoute = (body: unknown) =>
    fetch(`${scalekit.url}/_control/faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  /** A client of the SDK's own descriptor with a token and no retries: exactly one RPC per call. */
  async function onceClient() {
    const issued = await fetch(`${scalekit.url}/oauth/token`, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: m2m.clientId, client_secret: m2m.clientSecret }),
    });
    const { access_token } = (await issued.json()) as { access_token: string };
    const transport = createGrpcTransport({
      baseUrl: scalekit.url,
      interceptors: [
        (next) => (request) => {
          request.header.set('authorization', `Bearer ${access_token}`);
          return next(request);
        },
      ],
    });
    return createClient(ToolService, transport);
  }

  it('logs every RPC in order with its identifier and code, the unauthenticated first try of the SDK included', async () => {
    // Prepare
    const since = await rpcCursor();
    const identifier = newIdentifier();
    const fresh = new ScalekitClient(scalekit.url, m2m.clientId, m2m.clientSecret);
    // Act
    await fresh.actions.getOrCreateConnectedAccount({ connectionName: 'asana', identifier });
    // Assess
    expect(await rpcsSince(since)).toEqual([
      { seq: since + 1, rpc: 'GetConnectedAccountAuth', identifier, code: 'UNAUTHENTICATED' },
      { seq: since + 2, rpc: 'GetConnectedAccountAuth', identifier, code: 'NOT_FOUND' },
      { seq: since + 3, rpc: 'CreateConnectedAccount', identifier, code: 'OK' },
    ]);
    expect((await rpcsSince(since + 2)).map((rpc) => rpc.seq)).toEqual([since + 3]);
  });

  it('answers the next `times` calls of an RPC with the code, without running them', async () => {
    // Prepare
    const { identifier } = await connect('bob');
    const tools = await onceClient();
    const executions = await executionCursor();
    const since = await rpcCursor();
    // Act
    expect((await faultRoute({ rpc: 'ExecuteTool', code: 'UNAVAILABLE', times: 2 })).status).toBe(200);
    const first = await failure(tools.executeTool({ toolName: 'asana_me_get', identifier }));
    const second = await failure(tools.executeTool({ toolName: 'asana_me_get', identifier }));
    const third = await tools.executeTool({ toolName: 'asana_me_get', identifier });
    // Assess
    expect([(first as ConnectError).code, (second as ConnectError).code]).toEqual([Code.Unavailable, Code.Unavailable]);
    expect(third.data).toMatchObject({ data: { gid: person('bob').asanaGid } });
    expect((await rpcsSince(since)).map((rpc) => [rpc.rpc, rpc.identifier, rpc.code])).toEqual([
      ['ExecuteTool', identifier, 'UNAVAILABLE'],
      ['ExecuteTool', identifier, 'UNAVAILABLE'],
      ['ExecuteTool', identifier, 'OK'],
    ]);
    expect(await executionsSince(executions)).toHaveLength(1);
  });

  it('with afterExecuting, runs the call first and then answers the code (a lost response)', async () => {
    // Prepare
    const { identifier } = await connect('alice');
    const tools = await onceClient();
    const requests = await asanaCursor();
    // Act
    await faultRoute({ rpc: 'ExecuteTool', code: 'DEADLINE_EXCEEDED', times: 1, afterExecuting: true });
    const lost = await failure(
      tools.executeTool({ toolName: 'asana_story_create', identifier, params: { task_gid: '1401', text: 'once' } }),
    );
    // Assess
    expect((lost as ConnectError).code).toBe(Code.DeadlineExceeded);
    expect((await asanaRequestsSince(requests)).filter((request) => request.method === 'POST')).toHaveLength(1);
  });

  it('clears a fault with times 0, and refuses an unknown RPC or code', async () => {
    await faultRoute({ rpc: 'ListScopedTools', code: 'INTERNAL', times: 5 });
    expect((await faultRoute({ rpc: 'ListScopedTools', code: 'INTERNAL', times: 0 })).status).toBe(200);
    await expect(client.tools.listScopedTools(newIdentifier(), { filter: { connectionNames: ['asana'] } })).resolves.toBeDefined();
    expect((await faultRoute({ rpc: 'NoSuchRpc', code: 'INTERNAL', times: 1 })).status).toBe(400);
    expect((await faultRoute({ rpc: 'ExecuteTool', code: 'OK', times: 1 })).status).toBe(400);
    expect((await faultRoute({ rpc: 'ExecuteTool', code: 'UNAVAILABLE', times: 1, extra: true })).status).toBe(400);
    expect((await fetch(`${scalekit.url}/_control/rpcs?since=-1`)).status).toBe(400);
  });
});
