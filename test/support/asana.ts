import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import type { World } from '../../infra/local/world';

/** The OAuth client the Asana tests register with the emulator. */
export const TEST_CLIENT = { clientId: 'onbehalf-test', clientSecret: 'onbehalf-test-secret' } as const;

const record = z.record(z.string(), z.unknown());

const replySchema = z.looseObject({
  data: z.unknown().optional(),
  errors: z.array(z.looseObject({ message: z.string() })).optional(),
  next_page: z.looseObject({ offset: z.string(), path: z.string(), uri: z.string() }).nullable().optional(),
});

/** An Asana API answer: status and the parsed envelope. */
export interface AsanaReply {
  readonly status: number;
  readonly body: z.infer<typeof replySchema>;
}

/** Calls the emulator's API (`path` under `/api/1.0`) with a bearer token, a query and a `{ data }` body. */
export async function asana(
  baseUrl: string,
  token: string | undefined,
  method: string,
  path: string,
  options: { query?: Record<string, string>; data?: unknown; rawBody?: string } = {},
): Promise<AsanaReply> {
  const url = new URL(`${baseUrl}/api/1.0${path}`);
  for (const [key, value] of Object.entries(options.query ?? {})) url.searchParams.set(key, value);
  return asanaUrl(url.toString(), token, method, options);
}

/** Like {@link asana} for a full URL (e.g. `next_page.uri`). */
export async function asanaUrl(
  url: string,
  token: string | undefined,
  method = 'GET',
  options: { data?: unknown; rawBody?: string } = {},
): Promise<AsanaReply> {
  const body = options.rawBody ?? (options.data === undefined ? undefined : JSON.stringify({ data: options.data }));
  const response = await fetch(url, {
    method,
    headers: {
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body,
  });
  return { status: response.status, body: replySchema.parse(await response.json()) };
}

/** `data` as a list of records (fails the test when it is not one). */
export function list(reply: AsanaReply): Record<string, unknown>[] {
  return z.array(record).parse(reply.body.data);
}

/** `data` as one record. */
export function one(reply: AsanaReply): Record<string, unknown> {
  return record.parse(reply.body.data);
}

/** The gids of a list answer, in order. */
export function gids(reply: AsanaReply): string[] {
  return list(reply).map((item) => z.string().parse(item.gid));
}

/** The first error message of an error answer. */
export function errorMessage(reply: AsanaReply): string {
  return reply.body.errors?.[0]?.message ?? '';
}

/** Writes a world to a fresh temp dir and answers its path. */
export function writeWorldFile(world: World): string {
  const dir = mkdtempSync(join(tmpdir(), 'onbehalf-world-'));
  const path = join(dir, 'world.json');
  writeFileSync(path, JSON.stringify(world, null, 2));
  return path;
}

/**
 * A second world, unlike the default in every name and gid, with a private project's task
 * assigned to someone outside that project (who still must not see it).
 */
export const otherWorld: World = {
  workspace: { gid: '7700', name: 'Globex' },
  people: [
    { username: 'carol', password: 'Carol-pass-1', email: 'carol@globex.test', name: 'Carol Diaz', asanaGid: '7701' },
    { username: 'dave', password: 'Dave-pass-1', email: 'dave@globex.test', name: 'Dave Kim', asanaGid: '7702' },
    { username: 'erin', password: 'Erin-pass-1', email: 'erin@globex.test', name: 'Erin Park', asanaGid: '7703' },
  ],
  asanaOnly: [{ name: 'Globex Sync Bot', email: 'sync@globex.test', asanaGid: '7790', admin: true }],
  projects: [
    { gid: '7801', name: 'Intranet Refresh', public: true, members: ['7702'] },
    { gid: '7802', name: 'Board Minutes', public: false, members: ['7701', '7703'] },
    { gid: '7803', name: 'Hiring Plan', public: false, members: ['7703'] },
  ],
  tasks: [
    {
      gid: '7901',
      project: '7802',
      name: 'Acquisition shortlist',
      notes: 'Targets: Initech, Hooli.',
      assignee: '7702',
      comments: [{ author: '7701', text: 'Keep this between us.' }],
    },
    { gid: '7902', project: '7802', name: 'CEO succession memo', assignee: '7701' },
    { gid: '7903', project: '7801', name: 'Migrate wiki pages', assignee: '7702', comments: [{ author: '7702', text: 'Halfway done.' }] },
    { gid: '7904', project: '7803', name: 'Open headcount for Q3', assignee: '7703' },
  ],
};
