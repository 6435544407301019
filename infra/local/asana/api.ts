import { AsanaPresenter, type Json, type JsonObject, parseOptFields, type ResourceType, type Selection } from './present';
import type { AsanaProject, AsanaStore, AsanaUser, TaskRecord } from './store';

/** An Asana API error: answered as `{ "errors": [ { "message", "help" } ] }` with its status. */
export class AsanaApiError extends Error {
  override name = 'AsanaApiError';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export const ERROR_HELP =
  'For more information on API status codes and how to handle them, read the docs on errors: https://developers.asana.com/docs/errors';

/** The scopes of the consent form's two choices when the app asks for none (docs/local-stack.md). */
export const READ_SCOPES = ['users:read', 'workspaces:read', 'projects:read', 'tasks:read', 'stories:read'] as const;
export const WRITE_SCOPES = [...READ_SCOPES, 'tasks:write', 'stories:write'] as const;
/** As in Asana: the workspace typeahead (finding projects by name) needs its own scope… */
export const TYPEAHEAD_SCOPE = 'workspaces.typeahead:read';
/** …and so does deleting a task. An app gets them only by asking for them. */
export const DELETE_SCOPE = 'tasks:delete';
/** Every scope the emulator knows: what a consent may grant. */
export const KNOWN_SCOPES: readonly string[] = [...WRITE_SCOPES, TYPEAHEAD_SCOPE, DELETE_SCOPE];

/** Asana's answer to task search in a workspace without a premium plan. */
export const SEARCH_NOT_PREMIUM = 'Search is only available to premium users.';

/** One authenticated API call, as a route handler sees it. */
export interface ApiCall {
  readonly viewer: AsanaUser;
  readonly params: Readonly<Record<string, string>>;
  readonly query: URLSearchParams;
  /** `data` of a JSON body (or the fields of a form body); `{}` for GET/DELETE. */
  readonly data: JsonObject;
  /** The request path under `/api/1.0`, for `next_page`. */
  readonly path: string;
}

export interface ApiResult {
  readonly status: number;
  readonly body: JsonObject;
}

interface ApiRoute {
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  readonly segments: readonly string[];
  /** The OAuth scope the token must carry. */
  readonly scope: string;
  readonly handle: (call: ApiCall) => ApiResult;
}

const notRecognized = (field: string, value: string): AsanaApiError => new AsanaApiError(404, `${field}: Not a recognized ID: ${value}`);
const missing = (field: string): AsanaApiError => new AsanaApiError(400, `${field}: Missing input`);
const invalid = (field: string, why: string): AsanaApiError => new AsanaApiError(400, `${field}: ${why}`);

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const MAX_LIMIT = 100;

/**
 * The REST API under `/api/1.0` (Asana's paths, envelope, compact/full records, `opt_fields`,
 * `limit`/`offset` pages and errors), enforcing visibility from the token's owner on every call.
 * Anything a caller cannot see is answered exactly like something that does not exist (404).
 */
export class AsanaApi {
  private readonly routes: readonly ApiRoute[];
  private readonly present: AsanaPresenter;

  constructor(
    private readonly store: AsanaStore,
    private readonly baseUrl: () => string,
  ) {
    this.present = new AsanaPresenter(store, baseUrl);
    const route = (method: ApiRoute['method'], path: string, scope: string, handle: (call: ApiCall) => ApiResult): ApiRoute => ({
      method,
      segments: path.split('/').filter(Boolean),
      scope,
      handle,
    });
    this.routes = [
      route('GET', '/users/me', 'users:read', (c) => this.one('user', c.viewer.gid, c)),
      route('GET', '/users', 'users:read', (c) => this.listUsers(c, true)),
      route('GET', '/workspaces', 'workspaces:read', (c) => this.page(c, 'workspace', [this.store.workspace.gid])),
      route('GET', '/workspaces/{workspace_gid}', 'workspaces:read', (c) =>
        this.one('workspace', this.workspaceParam(c.params.workspace_gid, 'workspace'), c),
      ),
      route('GET', '/workspaces/{workspace_gid}/users', 'users:read', (c) => this.listUsers(c, false)),
      route('GET', '/workspaces/{workspace_gid}/typeahead', TYPEAHEAD_SCOPE, (c) => this.typeahead(c)),
      route('GET', '/workspaces/{workspace_gid}/tasks/search', 'tasks:read', (c) => this.searchTasks(c)),
      route('GET', '/projects', 'projects:read', (c) => this.listProjects(c)),
      route('GET', '/projects/{project_gid}', 'projects:read', (c) =>
        this.one('project', this.project(c, c.params.project_gid, 'project').gid, c),
      ),
      route('GET', '/projects/{project_gid}/tasks', 'tasks:read', (c) =>
        this.taskPage(c, this.store.projectTasks(c.viewer, this.project(c, c.params.project_gid, 'project').gid)),
      ),
      route('GET', '/projects/{project_gid}/sections', 'projects:read', (c) => this.listSections(c)),
      route('GET', '/tasks', 'tasks:read', (c) => this.listTasks(c)),
      route('GET', '/tasks/{task_gid}', 'tasks:read', (c) => this.one('task', this.task(c, c.params.task_gid, 'task').gid, c)),
      route('GET', '/tasks/{task_gid}/stories', 'stories:read', (c) => this.listStories(c)),
      route('GET', '/tasks/{task_gid}/subtasks', 'tasks:read', (c) =>
        this.taskPage(c, this.store.subtasks(c.viewer, this.task(c, c.params.task_gid, 'task').gid)),
      ),
      route('GET', '/users/{user_gid}/user_task_list', 'tasks:read', (c) => this.userTaskList(c)),
      route('GET', '/user_task_lists/{user_task_list_gid}', 'tasks:read', (c) =>
        this.one('user_task_list', this.userTaskListOwner(c).listGid, c),
      ),
      route('GET', '/user_task_lists/{user_task_list_gid}/tasks', 'tasks:read', (c) => this.userTaskListTasks(c)),
      route('POST', '/tasks', 'tasks:write', (c) => this.createTask(c)),
      route('PUT', '/tasks/{task_gid}', 'tasks:write', (c) => this.updateTask(c)),
      route('DELETE', '/tasks/{task_gid}', DELETE_SCOPE, (c) => this.deleteTask(c)),
      route('POST', '/tasks/{task_gid}/stories', 'stories:write', (c) => this.createStory(c)),
      route('POST', '/tasks/{task_gid}/subtasks', 'tasks:write', (c) => this.createSubtask(c)),
      route('POST', '/tasks/{task_gid}/addProject', 'tasks:write', (c) => this.addProject(c)),
    ];
  }

  /** Finds the route of a path under `/api/1.0`; `undefined` answers Asana's "No matching route". */
  match(method: string, path: string): { route: ApiRoute; params: Record<string, string> } | undefined {
    const segments = path
      .split('/')
      .filter(Boolean)
      .map((s) => decodeURIComponent(s));
    for (const route of this.routes) {
      if (route.method !== method || route.segments.length !== segments.length) continue;
      const params: Record<string, string> = {};
      const matches = route.segments.every((pattern, i) => {
        const segment = segments[i] ?? '';
        if (pattern.startsWith('{')) {
          params[pattern.slice(1, -1)] = segment;
          return true;
        }
        return pattern === segment;
      });
      if (matches) return { route, params };
    }
    return undefined;
  }

  // ── reads ─────────────────────────────────────────────────────────────────

  private one(type: ResourceType, gid: string, call: ApiCall, status = 200): ApiResult {
    const data = this.present.render(type, gid, call.viewer, selection(call, 'full'));
    if (!data) throw notRecognized(type, gid);
    return { status, body: { data } };
  }

  private listUsers(call: ApiCall, paged: boolean): ApiResult {
    const workspace = call.params.workspace_gid ?? call.query.get('workspace');
    if (workspace !== null && workspace !== undefined) this.workspaceParam(workspace, 'workspace');
    const gids = [...this.store.users.keys()];
    // Asana answers /workspaces/{gid}/users in one go (sorted, capped at 2000); /users pages.
    if (!paged) return { status: 200, body: { data: this.present.renderAll('user', gids, call.viewer, selection(call, 'compact')) } };
    return this.page(call, 'user', gids);
  }

  private listProjects(call: ApiCall): ApiResult {
    const workspace = call.query.get('workspace');
    if (workspace !== null) this.workspaceParam(workspace, 'workspace');
    const team = call.query.get('team');
    // The world has no teams, so every team gid is unknown.
    if (team !== null) throw notRecognized('team', team);
    const archived = parseBoolean(call.query.get('archived'), 'archived');
    const projects = archived === true ? [] : [...this.store.projects.values()].filter((p) => this.store.canSeeProject(call.viewer, p));
    return this.page(
      call,
      'project',
      projects.map((p) => p.gid),
    );
  }

  /** Asana's typeahead: what `asana_projects_search` uses to find projects by name. */
  private typeahead(call: ApiCall): ApiResult {
    this.workspaceParam(call.params.workspace_gid, 'workspace');
    const type = call.query.get('resource_type') ?? 'user';
    const query = (call.query.get('query') ?? '').trim().toLowerCase();
    const count = parseLimit(call.query.get('count'), 'count') ?? 20;
    const matches = (name: string): boolean => name.toLowerCase().includes(query);
    let gids: string[];
    if (type === 'project') {
      gids = [...this.store.projects.values()].filter((p) => this.store.canSeeProject(call.viewer, p) && matches(p.name)).map((p) => p.gid);
    } else if (type === 'user') {
      gids = [...this.store.users.values()].filter((u) => matches(u.name) || matches(u.email)).map((u) => u.gid);
    } else if (type === 'task') {
      gids = this.store
        .visibleTasks(call.viewer)
        .filter((t) => matches(t.name))
        .map((t) => t.gid);
    } else {
      throw invalid('resource_type', `Unsupported resource type: ${type}`);
    }
    return { status: 200, body: { data: this.present.renderAll(type, gids.slice(0, count), call.viewer, selection(call, 'compact')) } };
  }

  private listSections(call: ApiCall): ApiResult {
    const project = this.project(call, call.params.project_gid, 'project');
    const sections = this.store.state.sections.filter((s) => s.project === project.gid);
    return this.page(
      call,
      'section',
      sections.map((s) => s.gid),
    );
  }

  /** GET /tasks: exactly one of project, section, user_task_list, or assignee + workspace, as in Asana. */
  private listTasks(call: ApiCall): ApiResult {
    const q = call.query;
    const [project, section, list, assignee, workspace] = [
      q.get('project'),
      q.get('section'),
      q.get('user_task_list'),
      q.get('assignee'),
      q.get('workspace'),
    ];
    const selectors = [project, section, list, assignee].filter((v) => v !== null).length;
    if (selectors !== 1 || (assignee !== null) !== (workspace !== null)) {
      throw new AsanaApiError(400, 'Must specify exactly one of project, tag, section, user task list, or assignee + workspace');
    }
    let tasks: TaskRecord[];
    if (project !== null) {
      tasks = this.store.projectTasks(call.viewer, this.project(call, project, 'project').gid);
    } else if (section !== null) {
      const found = this.store.visibleSection(call.viewer, section);
      if (!found) throw notRecognized('section', section);
      tasks = this.store.projectTasks(call.viewer, found.project);
    } else if (list !== null) {
      const owner = this.store.userTaskListOwner(list);
      if (!owner) throw notRecognized('user_task_list', list);
      tasks = this.assignedTo(call.viewer, owner);
    } else {
      this.workspaceParam(workspace ?? '', 'workspace');
      tasks = this.assignedTo(call.viewer, this.user(call, assignee ?? '', 'assignee'));
    }
    return this.taskPage(call, tasks);
  }

  /** Tasks in a workspace by text (name and notes), assignee, completion or project; never past visibility. */
  private searchTasks(call: ApiCall): ApiResult {
    this.workspaceParam(call.params.workspace_gid, 'workspace');
    // Search is a premium feature, and its index lags behind the tasks (world options, docs/local-stack.md).
    if (this.store.workspace.premium === false) throw new AsanaApiError(402, SEARCH_NOT_PREMIUM);
    const indexedBefore = Date.now() - (this.store.workspace.searchLagMs ?? 0);
    const indexed = (t: TaskRecord): boolean => {
      // A seeded task never changed since is indexed; anything created or changed since only after the lag.
      const seededOnly = t.createdBy === null && t.modifiedAt === t.createdAt;
      return seededOnly || Date.parse(t.modifiedAt) <= indexedBefore;
    };
    const q = call.query;
    const text = q.get('text')?.trim().toLowerCase();
    const completed = parseBoolean(q.get('completed'), 'completed');
    const assignees = listParam(q.get('assignee.any'))?.map((a) => this.user(call, a, 'assignee.any').gid);
    const projects = listParam(q.get('projects.any'))?.map((p) => this.project(call, p, 'projects.any').gid);
    const limit = parseLimit(q.get('limit'), 'limit') ?? MAX_LIMIT;
    const found = this.store
      .visibleTasks(call.viewer)
      .filter(indexed)
      .filter((t) => !text || t.name.toLowerCase().includes(text) || t.notes.toLowerCase().includes(text))
      .filter((t) => completed === undefined || t.completed === completed)
      .filter((t) => !assignees || (t.assignee !== null && assignees.includes(t.assignee)))
      .filter((t) => !projects || t.projects.some((p) => projects.includes(p)))
      // Asana's search sorts by modification, newest first, and does not page.
      .sort((a, b) => b.modifiedAt.localeCompare(a.modifiedAt))
      .slice(0, limit);
    return {
      status: 200,
      body: {
        data: this.present.renderAll(
          'task',
          found.map((t) => t.gid),
          call.viewer,
          selection(call, 'compact'),
        ),
      },
    };
  }

  private listStories(call: ApiCall): ApiResult {
    const task = this.task(call, call.params.task_gid, 'task');
    return this.page(
      call,
      'story',
      this.store.stories(task.gid).map((s) => s.gid),
    );
  }

  private userTaskList(call: ApiCall): ApiResult {
    const workspace = call.query.get('workspace');
    if (workspace === null) throw missing('workspace');
    this.workspaceParam(workspace, 'workspace');
    const owner = this.user(call, call.params.user_gid ?? '', 'user');
    return this.one('user_task_list', this.store.userTaskListGid(owner.gid), call);
  }

  private userTaskListOwner(call: ApiCall): { listGid: string; owner: AsanaUser } {
    const listGid = call.params.user_task_list_gid ?? '';
    const owner = this.store.userTaskListOwner(listGid);
    if (!owner) throw notRecognized('user_task_list', listGid);
    return { listGid, owner };
  }

  private userTaskListTasks(call: ApiCall): ApiResult {
    return this.taskPage(call, this.assignedTo(call.viewer, this.userTaskListOwner(call).owner));
  }

  /** A user's assigned tasks as the viewer may see them: another user's My Tasks never shows a private project's task. */
  private assignedTo(viewer: AsanaUser, owner: AsanaUser): TaskRecord[] {
    return this.store.visibleTasks(viewer).filter((t) => t.assignee === owner.gid);
  }

  /** A page of tasks, after `completed_since` (incomplete tasks, or completed since that time). */
  private taskPage(call: ApiCall, tasks: readonly TaskRecord[]): ApiResult {
    const since = call.query.get('completed_since');
    let kept = tasks;
    if (since !== null) {
      const at = since === 'now' ? Date.now() : Date.parse(since);
      if (Number.isNaN(at)) throw invalid('completed_since', `Not a valid date/time: ${since}`);
      kept = tasks.filter((t) => !t.completed || (t.completedAt !== null && Date.parse(t.completedAt) >= at));
    }
    return this.page(
      call,
      'task',
      kept.map((t) => t.gid),
    );
  }

  /**
   * Asana's pagination: without `limit` or `offset` everything comes at once (no `next_page`); with
   * them a page of at most `limit` (1–100) and `next_page` holding the opaque `offset`, or `null`.
   */
  private page(call: ApiCall, type: ResourceType, gids: readonly string[]): ApiResult {
    const records = this.present.renderAll(type, gids, call.viewer, selection(call, 'compact'));
    const limitRaw = call.query.get('limit');
    const offsetRaw = call.query.get('offset');
    if (limitRaw === null && offsetRaw === null) return { status: 200, body: { data: records } };
    const limit = parseLimit(limitRaw, 'limit') ?? MAX_LIMIT;
    const start = offsetRaw === null ? 0 : decodeOffset(offsetRaw);
    const end = start + limit;
    let nextPage: Json = null;
    if (end < records.length) {
      const offset = encodeOffset(end);
      const query = new URLSearchParams(call.query);
      query.set('offset', offset);
      const path = `${call.path}?${query.toString()}`;
      nextPage = { offset, path, uri: `${this.baseUrl()}/api/1.0${path}` };
    }
    return { status: 200, body: { data: records.slice(start, end), next_page: nextPage } };
  }

  // ── writes ────────────────────────────────────────────────────────────────

  /** POST /tasks: in `projects`, under `parent`, or in `workspace` alone (then private to the people on it). */
  private createTask(call: ApiCall): ApiResult {
    const d = call.data;
    const projects = (gidList(d.projects, 'projects') ?? []).map((p) => this.project(call, p, 'projects').gid);
    const parentGid = optionalString(d.parent, 'parent');
    const parent = parentGid === undefined || parentGid === null ? undefined : this.task(call, parentGid, 'parent');
    const workspace = optionalString(d.workspace, 'workspace');
    if (workspace !== undefined && workspace !== null) this.workspaceParam(workspace, 'workspace');
    if (projects.length === 0 && !parent && (workspace === undefined || workspace === null)) {
      throw new AsanaApiError(400, 'You should specify one of workspace, parent, projects');
    }
    const task = this.newTask(call, projects, parent?.gid ?? null);
    return this.one('task', task.gid, call, 201);
  }

  private createSubtask(call: ApiCall): ApiResult {
    const parent = this.task(call, call.params.task_gid, 'task');
    const task = this.newTask(call, [], parent.gid);
    return this.one('task', task.gid, call, 201);
  }

  private newTask(call: ApiCall, projects: string[], parent: string | null): TaskRecord {
    const d = call.data;
    const assignee = this.optionalUser(call, d.assignee, 'assignee');
    const followers = (gidList(d.followers, 'followers') ?? []).map((f) => this.user(call, f, 'followers').gid);
    const people = [call.viewer.gid, ...(assignee ? [assignee] : []), ...followers];
    return this.store.createTask({
      name: optionalString(d.name, 'name') ?? '',
      notes: optionalString(d.notes, 'notes') ?? '',
      assignee: assignee ?? null,
      completed: optionalBoolean(d.completed, 'completed') ?? false,
      createdBy: call.viewer.gid,
      dueOn: optionalDate(d.due_on, 'due_on') ?? null,
      startOn: optionalDate(d.start_on, 'start_on') ?? null,
      followers: [...new Set(people)],
      projects,
      parent,
    });
  }

  private updateTask(call: ApiCall): ApiResult {
    const task = this.task(call, call.params.task_gid, 'task');
    const d = call.data;
    const changes: Parameters<AsanaStore['updateTask']>[1] = {};
    const name = optionalString(d.name, 'name');
    if (name !== undefined) changes.name = name ?? '';
    const notes = optionalString(d.notes, 'notes');
    if (notes !== undefined) changes.notes = notes ?? '';
    if (d.assignee !== undefined) changes.assignee = this.optionalUser(call, d.assignee, 'assignee') ?? null;
    const completed = optionalBoolean(d.completed, 'completed');
    if (completed !== undefined) changes.completed = completed;
    const dueOn = optionalDate(d.due_on, 'due_on');
    if (dueOn !== undefined) changes.dueOn = dueOn;
    const startOn = optionalDate(d.start_on, 'start_on');
    if (startOn !== undefined) changes.startOn = startOn;
    this.store.updateTask(task, changes);
    return this.one('task', task.gid, call);
  }

  private deleteTask(call: ApiCall): ApiResult {
    this.store.deleteTask(this.task(call, call.params.task_gid, 'task'));
    return { status: 200, body: { data: {} } };
  }

  private createStory(call: ApiCall): ApiResult {
    const task = this.task(call, call.params.task_gid, 'task');
    const text = optionalString(call.data.text, 'text');
    if (text === undefined || text === null || text.trim() === '') throw missing('text');
    const story = this.store.addStory(task, call.viewer.gid, text);
    const data = this.present.render('story', story.gid, call.viewer, selection(call, 'full'));
    return { status: 201, body: { data: data ?? {} } };
  }

  private addProject(call: ApiCall): ApiResult {
    const task = this.task(call, call.params.task_gid, 'task');
    const d = call.data;
    const projectGid = optionalString(d.project, 'project');
    if (projectGid === undefined || projectGid === null) throw missing('project');
    const project = this.project(call, projectGid, 'project');
    const before = optionalString(d.insert_before, 'insert_before') ?? undefined;
    const after = optionalString(d.insert_after, 'insert_after') ?? undefined;
    const section = optionalString(d.section, 'section') ?? undefined;
    if ([before, after, section].filter((v) => v !== undefined).length > 1) {
      throw new AsanaApiError(400, 'Only one of insert_before, insert_after, or section may be specified');
    }
    const order = this.store.state.projectTasks[project.gid] ?? [];
    for (const [field, anchor] of [
      ['insert_before', before],
      ['insert_after', after],
    ] as const) {
      if (anchor !== undefined && !order.includes(anchor)) throw invalid(field, `Task ${anchor} is not in project ${project.gid}`);
    }
    if (section !== undefined && this.store.sectionOf(project.gid)?.gid !== section) {
      throw invalid('section', `Section ${section} is not in project ${project.gid}`);
    }
    this.store.addTaskToProject(task, project.gid, { before, after });
    return { status: 200, body: { data: {} } };
  }

  // ── lookups: unknown and invisible answer the same 404 ────────────────────

  private workspaceParam(gid: string | undefined, field: string): string {
    if (gid !== this.store.workspace.gid) throw notRecognized(field, gid ?? '');
    return gid;
  }

  private project(call: ApiCall, gid: string | undefined, field: string): AsanaProject {
    const project = gid === undefined ? undefined : this.store.visibleProject(call.viewer, gid);
    if (!project) throw notRecognized(field, gid ?? '');
    return project;
  }

  private task(call: ApiCall, gid: string | undefined, field: string): TaskRecord {
    const task = gid === undefined ? undefined : this.store.visibleTask(call.viewer, gid);
    if (!task) throw notRecognized(field, gid ?? '');
    return task;
  }

  /** A user by gid, email or `me`. */
  private user(call: ApiCall, ref: string, field: string): AsanaUser {
    const user = ref === 'me' ? call.viewer : (this.store.users.get(ref) ?? (ref.includes('@') ? this.store.userByEmail(ref) : undefined));
    if (!user) throw notRecognized(field, ref);
    return user;
  }

  private optionalUser(call: ApiCall, value: Json | undefined, field: string): string | null | undefined {
    const ref = optionalString(value, field);
    return ref === undefined || ref === null ? ref : this.user(call, ref, field).gid;
  }
}

function selection(call: ApiCall, fallback: 'compact' | 'full'): Selection {
  return parseOptFields(call.query.get('opt_fields')) ?? fallback;
}

function parseLimit(raw: string | null, field: string): number | undefined {
  if (raw === null) return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1 || value > MAX_LIMIT) throw invalid(field, `Must be an integer between 1 and ${MAX_LIMIT}`);
  return value;
}

function parseBoolean(raw: string | null, field: string): boolean | undefined {
  if (raw === null) return undefined;
  if (raw === 'true' || raw === 'false') return raw === 'true';
  throw invalid(field, `Not a boolean: ${raw}`);
}

function listParam(raw: string | null): string[] | undefined {
  if (raw === null) return undefined;
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

function encodeOffset(index: number): string {
  return Buffer.from(JSON.stringify({ o: index })).toString('base64url');
}

function decodeOffset(raw: string): number {
  try {
    const value: unknown = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
    if (typeof value === 'object' && value !== null && 'o' in value && Number.isInteger(value.o) && Number(value.o) >= 0)
      return Number(value.o);
  } catch {
    // fall through: a token we did not issue
  }
  throw invalid('offset', 'Your pagination token is invalid');
}

function optionalString(value: Json | undefined, field: string): string | null | undefined {
  if (value === undefined || value === null || typeof value === 'string') return value;
  throw invalid(field, 'Must be a string');
}

function optionalBoolean(value: Json | undefined, field: string): boolean | undefined {
  if (value === undefined || typeof value === 'boolean') return value;
  if (value === 'true' || value === 'false') return value === 'true';
  throw invalid(field, 'Must be a boolean');
}

function optionalDate(value: Json | undefined, field: string): string | null | undefined {
  const date = optionalString(value, field);
  if (typeof date === 'string' && !(DATE.test(date) && !Number.isNaN(Date.parse(date)))) throw invalid(field, `Not a valid date: ${date}`);
  return date;
}

/** A list of gids as an array or a comma-separated string (Asana takes both). */
function gidList(value: Json | undefined, field: string): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string')
    return value
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  if (Array.isArray(value) && value.every((v): v is string => typeof v === 'string')) return value;
  throw invalid(field, 'Must be a list of gids');
}
