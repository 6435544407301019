import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

const gid = z.string().regex(/^\d+$/, 'a gid is a string of digits');

/** The shape of a world file (`docs/local-stack.md`): who exists, in Cognito and in Asana, and what they can see. */
export const worldSchema = z
  .strictObject({
    workspace: z.strictObject({
      gid,
      name: z.string().min(1),
      /** `false`: task search answers `402`, as on Asana's free plans (default `true`). */
      premium: z.boolean().optional(),
      /** Task search does not see tasks created or changed within this many milliseconds (default 0). */
      searchLagMs: z.number().int().min(0).optional(),
    }),
    people: z
      .array(
        z.strictObject({
          username: z.string().min(1),
          password: z.string().min(8),
          email: z.string().email(),
          name: z.string().min(1),
          asanaGid: gid,
        }),
      )
      .min(1),
    asanaOnly: z
      .array(
        z.strictObject({
          name: z.string().min(1),
          email: z.string().email(),
          asanaGid: gid,
          admin: z.boolean().optional(),
        }),
      )
      .optional(),
    projects: z.array(
      z.strictObject({
        gid,
        name: z.string().min(1),
        public: z.boolean(),
        members: z.array(gid),
      }),
    ),
    tasks: z.array(
      z.strictObject({
        gid,
        project: gid,
        name: z.string().min(1),
        notes: z.string().optional(),
        assignee: gid.optional(),
        completed: z.boolean().optional(),
        comments: z.array(z.strictObject({ author: gid, text: z.string() })).optional(),
      }),
    ),
  })
  .superRefine((world, ctx) => {
    const asanaUsers = new Set([...world.people.map((p) => p.asanaGid), ...(world.asanaOnly ?? []).map((p) => p.asanaGid)]);
    const projects = new Set(world.projects.map((p) => p.gid));
    world.projects.forEach((project, i) => {
      project.members.forEach((member, j) => {
        if (!asanaUsers.has(member)) {
          ctx.addIssue({ code: 'custom', path: ['projects', i, 'members', j], message: `unknown Asana user ${member}` });
        }
      });
    });
    world.tasks.forEach((task, i) => {
      if (!projects.has(task.project)) {
        ctx.addIssue({ code: 'custom', path: ['tasks', i, 'project'], message: `unknown project ${task.project}` });
      }
      if (task.assignee !== undefined && !asanaUsers.has(task.assignee)) {
        ctx.addIssue({ code: 'custom', path: ['tasks', i, 'assignee'], message: `unknown Asana user ${task.assignee}` });
      }
    });
    const usernames = world.people.map((p) => p.username);
    if (new Set(usernames).size !== usernames.length) {
      ctx.addIssue({ code: 'custom', path: ['people'], message: 'usernames must be unique' });
    }
  });

export type World = z.infer<typeof worldSchema>;

export const DEFAULT_WORLD_PATH = fileURLToPath(new URL('./world.json', import.meta.url));

/** Thrown when a world file is missing, not JSON, or not of the world's shape; the message names the field. */
export class WorldFileError extends Error {
  override name = 'WorldFileError';
}

/** Parses a world; a mismatch throws a {@link WorldFileError} naming the first offending field. */
export function parseWorld(value: unknown, source = 'world'): World {
  const result = worldSchema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0];
    const field = issue?.path.length ? issue.path.join('.') : '(root)';
    throw new WorldFileError(`${source}: field "${field}": ${issue?.message ?? 'invalid'}`);
  }
  return result.data;
}

/** Loads the world from `path`, else `ONBEHALF_WORLD`, else the default `infra/local/world.json`. */
export function loadWorld(path = process.env.ONBEHALF_WORLD || DEFAULT_WORLD_PATH): World {
  let raw: string;
  try {
    raw = readFileSync(path, 'utf8');
  } catch (error) {
    throw new WorldFileError(`cannot read world file ${path}: ${(error as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (error) {
    throw new WorldFileError(`world file ${path} is not JSON: ${(error as Error).message}`);
  }
  return parseWorld(value, path);
}
