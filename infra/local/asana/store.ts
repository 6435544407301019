import { createHash } from 'node:crypto';
import { readState, writeState } from '../service';
import type { World } from '../world';

/** An Asana account of the world: a person (who can log in) or an `asanaOnly` account (who cannot). */
export interface AsanaUser {
  readonly gid: string;
  readonly name: string;
  readonly email: string;
  /** Only people have one; `asanaOnly` accounts cannot pass the consent form. */
  readonly password: string | undefined;
  readonly admin: boolean;
}

/** A project of the world; projects are fixed by the world file (the emulator cannot create them). */
export interface AsanaProject {
  readonly gid: string;
  readonly name: string;
  readonly public: boolean;
  readonly members: readonly string[];
}

export interface TaskRecord {
  gid: string;
  name: string;
  notes: string;
  assignee: string | null;
  completed: boolean;
  completedAt: string | null;
  createdAt: string;
  modifiedAt: string;
  createdBy: string | null;
  dueOn: string | null;
  startOn: string | null;
  followers: string[];
  /** Projects the task is in, in the order it was added to them. */
  projects: string[];
  parent: string | null;
}

export interface StoryRecord {
  gid: string;
  task: string;
  author: string;
  text: string;
  createdAt: string;
}

export interface SectionRecord {
  gid: string;
  project: string;
  name: string;
}

/** An OAuth grant: one user's consent to one client, with its scopes; revoking it kills its tokens. */
export interface GrantRecord {
  id: string;
  asanaGid: string;
  clientId: string;
  scope: string;
  refreshToken: string;
  revoked: boolean;
}

export interface AccessTokenRecord {
  token: string;
  grantId: string;
  /** Epoch milliseconds. */
  expiresAt: number;
}

export interface AuthorizationCodeRecord {
  code: string;
  asanaGid: string;
  clientId: string;
  redirectUri: string;
  scope: string;
  codeChallenge: string | null;
  codeChallengeMethod: string | null;
  expiresAt: number;
  /** The grant the code was exchanged for; a replayed code revokes it (RFC 6749 §4.1.2). */
  grantId: string | null;
}

/** One `/api/1.0` call as `GET /_control/requests` reports it. */
export interface RequestLogEntry {
  seq: number;
  method: string;
  path: string;
  query: Record<string, string>;
  asanaUserGid: string | null;
  status: number;
}

/** Everything the emulator changes, persisted as one JSON document. */
export interface AsanaState {
  version: 1;
  /** Hash of the world the state was seeded from: state of another world is discarded, not mixed in. */
  worldFingerprint: string;
  seededAt: string;
  nextGid: string;
  tasks: TaskRecord[];
  stories: StoryRecord[];
  sections: SectionRecord[];
  /** Task order of each project. */
  projectTasks: Record<string, string[]>;
  userTaskLists: Record<string, string>;
  grants: GrantRecord[];
  accessTokens: AccessTokenRecord[];
  codes: AuthorizationCodeRecord[];
  requestSeq: number;
  requests: RequestLogEntry[];
}

/** Where new gids start at the lowest: far above any hand-written world, in Asana's 16-digit style. */
const NEW_GID_FLOOR = 1_210_000_000_000_000n;

/**
 * The emulator's data: the world's users and projects (fixed) and the mutable state (tasks,
 * stories, grants, tokens, request log), with Asana's visibility rules. Persists to `stateFile`
 * on {@link AsanaStore.save}; without one it lives in memory only.
 */
export class AsanaStore {
  readonly workspace: { readonly gid: string; readonly name: string; readonly premium?: boolean; readonly searchLagMs?: number };
  readonly users: ReadonlyMap<string, AsanaUser>;
  readonly projects: ReadonlyMap<string, AsanaProject>;
  readonly state: AsanaState;
  private readonly tasksByGid = new Map<string, TaskRecord>();

  constructor(
    world: World,
    private readonly stateFile?: string,
  ) {
    this.workspace = world.workspace;
    const users = new Map<string, AsanaUser>();
    for (const person of world.people) {
      users.set(person.asanaGid, { gid: person.asanaGid, name: person.name, email: person.email, password: person.password, admin: false });
    }
    for (const account of world.asanaOnly ?? []) {
      users.set(account.asanaGid, {
        gid: account.asanaGid,
        name: account.name,
        email: account.email,
        password: undefined,
        admin: account.admin ?? false,
      });
    }
    this.users = users;
    this.projects = new Map(world.projects.map((p) => [p.gid, { gid: p.gid, name: p.name, public: p.public, members: p.members }]));

    const fingerprint = createHash('sha256').update(JSON.stringify(world)).digest('hex');
    const restored = readState<AsanaState>(stateFile);
    this.state = restored?.version === 1 && restored.worldFingerprint === fingerprint ? restored : seed(world, fingerprint);
    for (const task of this.state.tasks) this.tasksByGid.set(task.gid, task);
    this.ensureDefaults(world);
  }

  /** Persists the state (a no-op without a state file). Call after each mutation. */
  save(): void {
    writeState(this.stateFile, this.state);
  }

  /** A new gid, above every gid of the world and of earlier runs. */
  newGid(): string {
    const gid = this.state.nextGid;
    this.state.nextGid = (BigInt(gid) + 1n).toString();
    return gid;
  }

  userByEmail(email: string): AsanaUser | undefined {
    const wanted = email.trim().toLowerCase();
    for (const user of this.users.values()) if (user.email.toLowerCase() === wanted) return user;
    return undefined;
  }

  // Visibility (docs/local-stack.md): projects to members, or to everyone when public; tasks follow their projects.

  canSeeProject(viewer: AsanaUser, project: AsanaProject): boolean {
    return viewer.admin || project.public || project.members.includes(viewer.gid);
  }

  canSeeTask(viewer: AsanaUser, task: TaskRecord): boolean {
    if (viewer.admin) return true;
    if (task.projects.some((gid) => this.canSeeProjectGid(viewer, gid))) return true;
    if (task.parent !== null) {
      const parent = this.tasksByGid.get(task.parent);
      return parent !== undefined && this.canSeeTask(viewer, parent);
    }
    // A task in no project is private to the people on it, as "only visible to me" tasks are in Asana.
    return (
      task.projects.length === 0 && (task.assignee === viewer.gid || task.createdBy === viewer.gid || task.followers.includes(viewer.gid))
    );
  }

  private canSeeProjectGid(viewer: AsanaUser, gid: string): boolean {
    const project = this.projects.get(gid);
    return project !== undefined && this.canSeeProject(viewer, project);
  }

  visibleProject(viewer: AsanaUser, gid: string): AsanaProject | undefined {
    const project = this.projects.get(gid);
    return project && this.canSeeProject(viewer, project) ? project : undefined;
  }

  visibleTask(viewer: AsanaUser, gid: string): TaskRecord | undefined {
    const task = this.tasksByGid.get(gid);
    return task && this.canSeeTask(viewer, task) ? task : undefined;
  }

  visibleSection(viewer: AsanaUser, gid: string): SectionRecord | undefined {
    const section = this.state.sections.find((s) => s.gid === gid);
    return section && this.visibleProject(viewer, section.project) ? section : undefined;
  }

  /** Every task the viewer can see, in creation order. */
  visibleTasks(viewer: AsanaUser): TaskRecord[] {
    return this.state.tasks.filter((task) => this.canSeeTask(viewer, task));
  }

  projectTasks(viewer: AsanaUser, projectGid: string): TaskRecord[] {
    return (this.state.projectTasks[projectGid] ?? [])
      .map((gid) => this.tasksByGid.get(gid))
      .filter((task): task is TaskRecord => task !== undefined && this.canSeeTask(viewer, task));
  }

  sectionOf(projectGid: string): SectionRecord | undefined {
    return this.state.sections.find((s) => s.project === projectGid);
  }

  subtasks(viewer: AsanaUser, parentGid: string): TaskRecord[] {
    return this.state.tasks.filter((task) => task.parent === parentGid && this.canSeeTask(viewer, task));
  }

  stories(taskGid: string): StoryRecord[] {
    return this.state.stories.filter((story) => story.task === taskGid);
  }

  /** The gid of a user's My Tasks list (one per user in our single workspace). */
  userTaskListGid(userGid: string): string {
    const existing = this.state.userTaskLists[userGid];
    if (existing !== undefined) return existing;
    const gid = this.newGid();
    this.state.userTaskLists[userGid] = gid;
    this.save();
    return gid;
  }

  userTaskListOwner(listGid: string): AsanaUser | undefined {
    const entry = Object.entries(this.state.userTaskLists).find(([, gid]) => gid === listGid);
    return entry ? this.users.get(entry[0]) : undefined;
  }

  // Mutations: the caller has checked visibility and scope; each one leaves the state saved.

  createTask(fields: Omit<TaskRecord, 'gid' | 'createdAt' | 'modifiedAt' | 'completedAt'>): TaskRecord {
    const now = new Date().toISOString();
    const task: TaskRecord = { ...fields, gid: this.newGid(), createdAt: now, modifiedAt: now, completedAt: fields.completed ? now : null };
    this.state.tasks.push(task);
    this.tasksByGid.set(task.gid, task);
    for (const project of task.projects) (this.state.projectTasks[project] ??= []).push(task.gid);
    this.save();
    return task;
  }

  updateTask(
    task: TaskRecord,
    changes: Partial<Pick<TaskRecord, 'name' | 'notes' | 'assignee' | 'completed' | 'dueOn' | 'startOn'>>,
  ): TaskRecord {
    const now = new Date().toISOString();
    if (changes.completed !== undefined && changes.completed !== task.completed) task.completedAt = changes.completed ? now : null;
    Object.assign(task, changes, { modifiedAt: now });
    if (task.assignee !== null && !task.followers.includes(task.assignee)) task.followers.push(task.assignee);
    this.save();
    return task;
  }

  /** Adds the task to a project (or moves it within one), before/after another task or at the end. */
  addTaskToProject(task: TaskRecord, projectGid: string, position: { before?: string; after?: string }): void {
    const order = (this.state.projectTasks[projectGid] ??= []).filter((gid) => gid !== task.gid);
    const anchor = position.before ?? position.after;
    const at = anchor === undefined ? order.length : order.indexOf(anchor) + (position.after !== undefined ? 1 : 0);
    order.splice(at, 0, task.gid);
    this.state.projectTasks[projectGid] = order;
    if (!task.projects.includes(projectGid)) task.projects.push(projectGid);
    task.modifiedAt = new Date().toISOString();
    this.save();
  }

  addStory(task: TaskRecord, author: string, text: string): StoryRecord {
    const story: StoryRecord = { gid: this.newGid(), task: task.gid, author, text, createdAt: new Date().toISOString() };
    this.state.stories.push(story);
    this.save();
    return story;
  }

  /** Deletes a task with its subtasks and stories, as Asana does. */
  deleteTask(task: TaskRecord): void {
    const doomed = new Set<string>();
    const collect = (gid: string): void => {
      doomed.add(gid);
      for (const child of this.state.tasks) if (child.parent === gid && !doomed.has(child.gid)) collect(child.gid);
    };
    collect(task.gid);
    this.state.tasks = this.state.tasks.filter((t) => !doomed.has(t.gid));
    this.state.stories = this.state.stories.filter((s) => !doomed.has(s.task));
    for (const [project, order] of Object.entries(this.state.projectTasks)) {
      this.state.projectTasks[project] = order.filter((gid) => !doomed.has(gid));
    }
    for (const gid of doomed) this.tasksByGid.delete(gid);
    this.save();
  }

  private ensureDefaults(world: World): void {
    let changed = false;
    for (const project of world.projects) {
      if (!this.sectionOf(project.gid)) {
        this.state.sections.push({ gid: this.newGid(), project: project.gid, name: 'Untitled section' });
        changed = true;
      }
    }
    if (changed) this.save();
  }
}

function seed(world: World, worldFingerprint: string): AsanaState {
  const seededAt = new Date().toISOString();
  const gids = [
    world.workspace.gid,
    ...world.people.map((p) => p.asanaGid),
    ...(world.asanaOnly ?? []).map((p) => p.asanaGid),
    ...world.projects.map((p) => p.gid),
    ...world.tasks.map((t) => t.gid),
  ].map((gid) => BigInt(gid));
  // biome-ignore lint/complexity/useMathMinMax: BigInt has no Math.max
  const worldMax = gids.reduce((max, gid) => (gid > max ? gid : max), 0n);
  let next = worldMax + 1n > NEW_GID_FLOOR ? worldMax + 1n : NEW_GID_FLOOR;
  const newGid = (): string => (next++).toString();

  const tasks: TaskRecord[] = world.tasks.map((t) => ({
    gid: t.gid,
    name: t.name,
    notes: t.notes ?? '',
    assignee: t.assignee ?? null,
    completed: t.completed ?? false,
    completedAt: t.completed ? seededAt : null,
    createdAt: seededAt,
    modifiedAt: seededAt,
    createdBy: null,
    dueOn: null,
    startOn: null,
    followers: t.assignee ? [t.assignee] : [],
    projects: [t.project],
    parent: null,
  }));
  const stories: StoryRecord[] = world.tasks.flatMap((t) =>
    (t.comments ?? []).map((c) => ({ gid: newGid(), task: t.gid, author: c.author, text: c.text, createdAt: seededAt })),
  );
  const projectTasks: Record<string, string[]> = {};
  for (const t of world.tasks) (projectTasks[t.project] ??= []).push(t.gid);

  return {
    version: 1,
    worldFingerprint,
    seededAt,
    nextGid: next.toString(),
    tasks,
    stories,
    sections: [],
    projectTasks,
    userTaskLists: {},
    grants: [],
    accessTokens: [],
    codes: [],
    requestSeq: 0,
    requests: [],
  };
}
