/**
 * How each of the 21 Asana tools (`functions/core/asana-tools.json`) becomes one Asana REST call:
 * method, path under `/api/1.0` with `{field}` filled from the tool input, which input fields
 * go to the query string and which into the body's `data`, under which Asana names. The Scalekit
 * emulator executes tools with {@link toAsanaRequest} (or {@link fetchAsanaTool}); the table in
 * `README.md` says the same for people.
 */

/** The HTTP methods the tools use. */
export type AsanaMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

/** How one input field travels: under which Asana name, and whether a comma-separated string becomes a list. */
export interface FieldMapping {
  readonly name: string;
  /** Body only: a string `"1,2"` (or an array) is sent as `["1","2"]`. */
  readonly list?: boolean;
}

/** The REST call behind one tool. */
export interface ToolRoute {
  readonly method: AsanaMethod;
  /** Path under `/api/1.0`; `{field}` is replaced by the (URL-encoded) input field of that name. */
  readonly path: string;
  /** Input field → query parameter. */
  readonly query: Readonly<Record<string, FieldMapping>>;
  /** Input field → field of the body's `data`. */
  readonly body: Readonly<Record<string, FieldMapping>>;
  /** Query parameters every call of the tool carries. */
  readonly fixedQuery?: Readonly<Record<string, string>>;
  /** Input fields deliberately not sent, with the reason. */
  readonly dropped?: Readonly<Record<string, string>>;
}

const same = (...fields: string[]): Record<string, FieldMapping> => Object.fromEntries(fields.map((f) => [f, { name: f }]));
const optFields = same('opt_fields');

/** Every tool's REST call, keyed by tool name. */
export const toolRoutes = {
  asana_me_get: { method: 'GET', path: '/users/me', query: optFields, body: {} },
  asana_workspaces_list: { method: 'GET', path: '/workspaces', query: optFields, body: {} },
  asana_users_list: { method: 'GET', path: '/workspaces/{workspace_gid}/users', query: optFields, body: {} },
  asana_projects_list: {
    method: 'GET',
    path: '/projects',
    query: { ...optFields, ...same('team'), workspace_gid: { name: 'workspace' } },
    body: {},
  },
  asana_projects_search: {
    method: 'GET',
    path: '/workspaces/{workspace_gid}/typeahead',
    query: { ...optFields, name: { name: 'query' } },
    body: {},
    fixedQuery: { resource_type: 'project' },
    dropped: { archived: 'typeahead has no archived filter; the emulator has no archived projects' },
  },
  asana_project_get: { method: 'GET', path: '/projects/{project_gid}', query: optFields, body: {} },
  asana_project_tasks_list: { method: 'GET', path: '/projects/{project_gid}/tasks', query: optFields, body: {} },
  asana_sections_list: { method: 'GET', path: '/projects/{project_gid}/sections', query: optFields, body: {} },
  asana_tasks_list: {
    method: 'GET',
    path: '/tasks',
    query: { ...same('opt_fields', 'assignee', 'completed_since', 'project', 'section'), workspace_gid: { name: 'workspace' } },
    body: {},
  },
  asana_task_get: { method: 'GET', path: '/tasks/{task_gid}', query: optFields, body: {} },
  asana_task_search: {
    method: 'GET',
    path: '/workspaces/{workspace_gid}/tasks/search',
    query: { ...same('opt_fields', 'completed', 'text'), assignee: { name: 'assignee.any' } },
    body: {},
  },
  asana_task_stories_list: { method: 'GET', path: '/tasks/{task_gid}/stories', query: optFields, body: {} },
  asana_task_subtasks_list: { method: 'GET', path: '/tasks/{task_gid}/subtasks', query: optFields, body: {} },
  asana_user_task_list_for_user_get: {
    method: 'GET',
    path: '/users/{user_gid}/user_task_list',
    query: { ...optFields, workspace_gid: { name: 'workspace' } },
    body: {},
  },
  asana_my_tasks_list: {
    method: 'GET',
    path: '/user_task_lists/{user_task_list_gid}/tasks',
    query: same('opt_fields', 'completed_since'),
    body: {},
  },
  asana_task_create: {
    method: 'POST',
    path: '/tasks',
    query: optFields,
    body: {
      ...same('name', 'assignee', 'due_on', 'notes', 'start_on'),
      followers: { name: 'followers', list: true },
      projects: { name: 'projects', list: true },
      workspace_gid: { name: 'workspace' },
    },
  },
  asana_task_update: {
    method: 'PUT',
    path: '/tasks/{task_gid}',
    query: optFields,
    body: same('assignee', 'completed', 'due_on', 'name', 'notes', 'start_on'),
  },
  asana_story_create: { method: 'POST', path: '/tasks/{task_gid}/stories', query: optFields, body: same('text') },
  asana_subtask_create: {
    method: 'POST',
    path: '/tasks/{task_gid}/subtasks',
    query: optFields,
    body: same('name', 'assignee', 'due_on', 'notes'),
  },
  asana_task_add_project: {
    method: 'POST',
    path: '/tasks/{task_gid}/addProject',
    query: {},
    body: same('project', 'insert_after', 'insert_before', 'section'),
  },
  asana_task_delete: { method: 'DELETE', path: '/tasks/{task_gid}', query: {}, body: {} },
} as const satisfies Record<string, ToolRoute>;

/** The name of a tool with a REST route. */
export type AsanaToolName = keyof typeof toolRoutes;

/** A concrete Asana REST call: path under `/api/1.0`, query, and body (`{ data }`) for POST/PUT. */
export interface AsanaRequest {
  readonly method: AsanaMethod;
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
  readonly body?: { readonly data: Readonly<Record<string, unknown>> };
}

/** A tool call that cannot become a request: unknown tool, or a path field missing or not a string. */
export class ToolInputError extends Error {
  override name = 'ToolInputError';
}

/** True when `name` is one of the 21 tools. */
export function isAsanaToolName(name: string): name is AsanaToolName {
  return Object.hasOwn(toolRoutes, name);
}

/**
 * Builds the REST call for a tool call. Fields the tool does not define are ignored; `undefined`
 * and `null` fields are left out of the query (a `null` body field is sent, e.g. to unassign).
 */
export function toAsanaRequest(toolName: string, input: Readonly<Record<string, unknown>>): AsanaRequest {
  if (!isAsanaToolName(toolName)) throw new ToolInputError(`unknown Asana tool: ${toolName}`);
  const route: ToolRoute = toolRoutes[toolName];
  const path = route.path.replace(/\{(\w+)\}/g, (_, field: string) => {
    const value = input[field];
    if (typeof value !== 'string' || value === '') throw new ToolInputError(`${toolName}: ${field} is required`);
    return encodeURIComponent(value);
  });
  const query: Record<string, string> = { ...route.fixedQuery };
  for (const [field, mapping] of Object.entries(route.query)) {
    const value = input[field];
    if (value !== undefined && value !== null) query[mapping.name] = Array.isArray(value) ? value.join(',') : String(value);
  }
  if (route.method !== 'POST' && route.method !== 'PUT') return { method: route.method, path, query };
  const data: Record<string, unknown> = {};
  for (const [field, mapping] of Object.entries(route.body)) {
    const value = input[field];
    if (value === undefined) continue;
    data[mapping.name] =
      mapping.list && typeof value === 'string'
        ? value
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean)
        : value;
  }
  return { method: route.method, path, query, body: { data } };
}

/** The full URL of a request against an Asana base URL (`…/api/1.0` is added). */
export function asanaRequestUrl(asanaUrl: string, request: AsanaRequest): URL {
  const url = new URL(`${asanaUrl.replace(/\/$/, '')}/api/1.0${request.path}`);
  for (const [key, value] of Object.entries(request.query)) url.searchParams.set(key, value);
  return url;
}

/**
 * Executes a tool call against Asana (the emulator or the real one) with a user's access token,
 * answering Asana's status and JSON body as they came.
 */
export async function fetchAsanaTool(
  asanaUrl: string,
  accessToken: string,
  toolName: string,
  input: Readonly<Record<string, unknown>>,
): Promise<{ status: number; body: unknown }> {
  const request = toAsanaRequest(toolName, input);
  const response = await fetch(asanaRequestUrl(asanaUrl, request), {
    method: request.method,
    headers: {
      authorization: `Bearer ${accessToken}`,
      accept: 'application/json',
      ...(request.body ? { 'content-type': 'application/json' } : {}),
    },
    body: request.body ? JSON.stringify(request.body) : undefined,
  });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: answered as text
  }
  return { status: response.status, body };
}
