/**
 * The Claude stand-in's deterministic planner: what "Claude" does when no script matches.
 *
 * It is a pure function of the conversation and the tools of one request. On every call it
 * re-derives where it is from the history: it replays its own plan for the current user
 * request, and each tool call that already has a `tool_result` yields that result; the first
 * calls still missing are what it asks for next (several at once when they are independent).
 * Every gid and name it uses comes from those tool results, never from a world file.
 *
 * Recognised requests (names in double quotes or as written):
 * - "What's in the <project> board?" / "What's in the <project> project?"
 * - "List my open tasks"
 * - "Create a [high-priority] task "<name>" in the "<project>" project [and assign it to me]"
 * - "Add a comment "<text>" to the task "<task>""
 */

import { canonicalJson } from './cache';

/** A tool as the request declares it (only what the planner reads). */
export interface PlannerTool {
  name: string;
  input_schema?: { properties?: Record<string, unknown>; required?: readonly string[] };
}

/** A content block of the (merged) conversation; unknown block types are carried and ignored. */
export type PlannerBlock =
  | { type: 'text'; text: string }
  | { type: 'tool_use'; id: string; name: string; input: unknown }
  | {
      type: 'tool_result';
      tool_use_id: string;
      content?: string | ReadonlyArray<{ type: string; text?: string }>;
      is_error?: boolean;
    }
  | { type: 'other' };

export interface PlannerMessage {
  role: 'user' | 'assistant';
  content: readonly PlannerBlock[];
}

export interface PlannerInput {
  messages: readonly PlannerMessage[];
  tools: readonly PlannerTool[];
  /** `tool_choice.disable_parallel_tool_use`: ask for one tool at a time. */
  singleToolPerTurn?: boolean;
}

/** A tool call the planner wants; the server gives it a `toolu_…` id. */
export interface PlannedToolCall {
  name: string;
  input: Record<string, unknown>;
}

export type PlannedContent = { type: 'text'; text: string } | ({ type: 'tool_use' } & PlannedToolCall);

export interface PlannerOutput {
  content: PlannedContent[];
  stopReason: 'tool_use' | 'end_turn';
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: string };

interface LedgerEntry {
  name: string;
  key: string;
  outcome: Outcome | undefined;
}

interface Named {
  gid: string;
  name: string;
  record: Record<string, unknown>;
}

/** Thrown inside a plan when tool results are still missing: these calls go out next. */
class NeedCalls {
  constructor(readonly calls: PlannedToolCall[]) {}
}

/** Thrown inside a plan to end the turn with this answer. */
class FinalAnswer {
  constructor(readonly text: string) {}
}

const QUOTED = '["“]([^"”]+)["”]';

const HELP =
  'I can help with your Asana work. Ask me, for example: "What\'s in the <project> project?", ' +
  '"List my open tasks", "Create a task "<name>" in the "<project>" project and assign it to me" ' +
  'or "Add a comment "<text>" to the task "<task>"".';

/** Decides the next assistant turn for this request. */
export function plan(input: PlannerInput): PlannerOutput {
  const { requestText, ledger } = readHistory(input.messages);
  const session = new Session(ledger, input.tools);
  try {
    return endTurn(route(requestText, session));
  } catch (signal) {
    if (signal instanceof FinalAnswer) return endTurn(signal.text);
    if (signal instanceof NeedCalls) {
      const calls = input.singleToolPerTurn ? signal.calls.slice(0, 1) : signal.calls;
      return {
        content: [{ type: 'text', text: preamble(calls) }, ...calls.map((call): PlannedContent => ({ type: 'tool_use', ...call }))],
        stopReason: 'tool_use',
      };
    }
    throw signal;
  }
}

function endTurn(text: string): PlannerOutput {
  return { content: [{ type: 'text', text }], stopReason: 'end_turn' };
}

function preamble(calls: readonly PlannedToolCall[]): string {
  const names = [...new Set(calls.map((c) => c.name))];
  return `Let me check Asana (${names.join(', ')}).`;
}

function route(text: string, session: Session): string {
  const project = new RegExp(`what(?:'s|’s|s| is)\\s+in\\s+(?:the\\s+|my\\s+)?(?:${QUOTED}|([^"“”]+?))\\s+(board|project)\\b`, 'i').exec(
    text,
  );
  if (project) {
    const quoted = project[1];
    const unquoted = (project[2] ?? '').trim();
    // "the Empty Board?" may name the project "Empty" or "Empty Board": try the shorter first.
    const names = quoted !== undefined ? [quoted.trim()] : [unquoted, `${unquoted} ${project[3] ?? ''}`.trim()];
    return projectContents(session, names);
  }

  if (/\blist\s+my\s+(?:open\s+)?tasks\b/i.test(text)) return myOpenTasks(session);

  const create = new RegExp(
    `\\bcreate\\s+(?:a\\s+|an\\s+)?(high[-\\s]priority\\s+)?task\\s+${QUOTED}` +
      `\\s+in\\s+(?:the\\s+)?(?:${QUOTED}|(.+?))\\s+project\\b(\\s+and\\s+assign\\s+it\\s+to\\s+me)?`,
    'i',
  ).exec(text);
  if (create) {
    return createTask(session, {
      name: create[2] ?? '',
      project: (create[3] ?? create[4] ?? '').trim(),
      highPriority: create[1] !== undefined,
      assignToMe: create[5] !== undefined,
    });
  }

  const comment = new RegExp(`\\badd\\s+(?:a\\s+)?comment\\s+${QUOTED}\\s+to\\s+(?:the\\s+)?task\\s+${QUOTED}`, 'i').exec(text);
  if (comment) return addComment(session, comment[1] ?? '', comment[2] ?? '');

  return HELP;
}

// ---------------------------------------------------------------------------------------------
// Plans

/** "What's in the <project> board/project?": workspaces → projects → that project's tasks. */
function projectContents(s: Session, names: readonly string[]): string {
  const action = `list the tasks of the "${names[0] ?? ''}" project`;
  const project = findProject(s, names, action);
  const tasks = projectTasks(s, project, action);
  if (tasks.length === 0) return `The ${project.name} project has no tasks.`;
  const listed = tasks.map((t) => (t.record.completed === true ? `${t.name} (completed)` : t.name));
  return `The ${project.name} project has ${count(tasks.length, 'task')}: ${listed.join(', ')}.`;
}

/** "List my open tasks": me + workspaces → my incomplete tasks in each workspace. */
function myOpenTasks(s: Session): string {
  const action = 'list your open tasks';
  const me = whoAmI(s, action);
  const workspaces = listWorkspaces(s, action, me);
  // Asana accepts "me" for the caller when there is no tool to look them up.
  const meGid = me?.gid ?? 'me';
  let results: Outcome[];
  if (s.has('asana_tasks_list')) {
    results = s.all(
      workspaces.map((w) =>
        s.call('asana_tasks_list', {
          assignee: meGid,
          workspace_gid: w.gid,
          completed_since: 'now',
          opt_fields: 'name,completed',
        }),
      ),
    );
  } else if (s.has('asana_task_search')) {
    results = s.all(
      workspaces.map((w) =>
        s.call('asana_task_search', {
          workspace_gid: w.gid,
          assignee: meGid,
          completed: false,
          opt_fields: 'name,completed',
        }),
      ),
    );
  } else if (s.has('asana_user_task_list_for_user_get') && s.has('asana_my_tasks_list')) {
    const lists = s
      .all(workspaces.map((w) => s.call('asana_user_task_list_for_user_get', { user_gid: meGid, workspace_gid: w.gid })))
      .flatMap((o) => named(succeeded(o, action)));
    results = s.all(
      lists.map((l) =>
        s.call('asana_my_tasks_list', {
          user_task_list_gid: l.gid,
          completed_since: 'now',
          opt_fields: 'name,completed',
        }),
      ),
    );
  } else {
    throw missingTool(action, 'asana_tasks_list');
  }
  const open = uniqueByGid(results.flatMap((o) => named(succeeded(searchAvailable(o, action), action)))).filter(
    (t) => t.record.completed !== true,
  );
  if (open.length === 0) return 'You have no open tasks.';
  return `You have ${count(open.length, 'open task')}: ${open.map((t) => t.name).join(', ')}.`;
}

/** "Create a task …": workspaces (+ me) → the project → asana_task_create. */
function createTask(s: Session, request: { name: string; project: string; highPriority: boolean; assignToMe: boolean }): string {
  const action = `create the task "${request.name}"`;
  if (!s.has('asana_task_create')) throw missingTool(action, 'asana_task_create');
  const me = request.assignToMe ? whoAmI(s, action) : undefined;
  const project = findProject(s, [request.project], action, me);
  const created = single(
    succeeded(
      s.one(
        s.call('asana_task_create', {
          name: request.name,
          projects: project.gid,
          // Asana accepts "me" for the caller when there is no tool to look them up.
          assignee: request.assignToMe ? (me?.gid ?? 'me') : undefined,
          workspace_gid: project.workspaceGid,
          notes: request.highPriority ? 'High priority' : undefined,
        }),
      ),
      action,
    ),
  );
  const name = created?.name ?? request.name;
  const gid = created?.gid;
  let text = `I created the task "${name}"${gid ? ` (gid ${gid})` : ''} in the ${project.name} project`;
  if (request.assignToMe) {
    const assignee = created && isRecord(created.record.assignee) ? asString(created.record.assignee.name) : undefined;
    text += ` and assigned it to ${assignee ?? me?.name ?? 'you'}`;
  }
  if (request.highPriority) text += ', marked high priority in its notes';
  return `${text}.`;
}

/** "Add a comment …": workspaces → find the task by name → asana_story_create. */
function addComment(s: Session, comment: string, taskName: string): string {
  const action = `add a comment to the task "${taskName}"`;
  if (!s.has('asana_story_create')) throw missingTool(action, 'asana_story_create');
  const task = findTask(s, taskName, action);
  const story = single(succeeded(s.one(s.call('asana_story_create', { task_gid: task.gid, text: comment })), action));
  const posted = story ? (asString(story.record.text) ?? comment) : comment;
  return `I added the comment "${posted}" to the task "${task.name}".`;
}

// ---------------------------------------------------------------------------------------------
// Steps shared by the plans

function whoAmI(s: Session, action: string): Named | undefined {
  if (!s.has('asana_me_get')) return undefined;
  // Fetch the workspaces alongside: both are needed and independent.
  const calls = [s.call('asana_me_get', {})];
  if (s.has('asana_workspaces_list')) calls.push(s.call('asana_workspaces_list', {}));
  const [me] = s.all(calls);
  if (me === undefined) return undefined;
  return single(succeeded(me, action));
}

function listWorkspaces(s: Session, action: string, me?: Named): Named[] {
  if (s.has('asana_workspaces_list')) {
    const workspaces = named(succeeded(s.one(s.call('asana_workspaces_list', {})), action));
    if (workspaces.length === 0) throw new FinalAnswer(`I couldn't ${action}: I found no Asana workspace you belong to.`);
    return workspaces;
  }
  const fromMe = me ? named(me.record.workspaces) : [];
  if (fromMe.length > 0) return fromMe;
  throw missingTool(action, 'asana_workspaces_list');
}

/** A project found by name, with the workspace it was listed in (from the result or the call). */
interface FoundProject extends Named {
  workspaceGid: string | undefined;
}

function findProject(s: Session, names: readonly string[], action: string, me?: Named): FoundProject {
  const wanted = names[0] ?? '';
  let searches: Array<{ workspaceGid: string | undefined; call: PlannedToolCall }>;
  if (s.has('asana_projects_list')) {
    const workspaces = s.has('asana_workspaces_list') || me ? listWorkspaces(s, action, me) : undefined;
    searches = workspaces
      ? workspaces.map((w) => ({
          workspaceGid: w.gid,
          call: s.call('asana_projects_list', { workspace_gid: w.gid, opt_fields: 'name,workspace' }),
        }))
      : [{ workspaceGid: undefined, call: s.call('asana_projects_list', { opt_fields: 'name,workspace' }) }];
  } else if (s.has('asana_projects_search')) {
    searches = listWorkspaces(s, action, me).map((w) => ({
      workspaceGid: w.gid,
      call: s.call('asana_projects_search', { workspace_gid: w.gid, name: wanted, opt_fields: 'name,workspace' }),
    }));
  } else {
    throw missingTool(action, 'asana_projects_list');
  }
  const outcomes = s.all(searches.map((x) => x.call));
  const projects = searches.flatMap((search, i): FoundProject[] => {
    const outcome = outcomes[i];
    if (!outcome) return [];
    return named(succeeded(outcome, action)).map((p) => ({ ...p, workspaceGid: workspaceOf(p.record) ?? search.workspaceGid }));
  });
  const match = names.map((name) => projects.find((p) => normalise(p.name) === normalise(name))).find((p) => p !== undefined);
  if (!match) throw new FinalAnswer(`I couldn't find a project named "${wanted}" that you can see in Asana.`);
  return match;
}

function projectTasks(s: Session, project: Named, action: string): Named[] {
  let outcome: Outcome;
  if (s.has('asana_project_tasks_list')) {
    outcome = s.one(s.call('asana_project_tasks_list', { project_gid: project.gid, opt_fields: 'name,completed' }));
  } else if (s.has('asana_tasks_list')) {
    outcome = s.one(s.call('asana_tasks_list', { project: project.gid, opt_fields: 'name,completed' }));
  } else {
    throw missingTool(action, 'asana_project_tasks_list');
  }
  return uniqueByGid(named(succeeded(outcome, action)));
}

function findTask(s: Session, taskName: string, action: string): Named {
  let candidates: Named[];
  if (s.has('asana_task_search')) {
    const workspaces = listWorkspaces(s, action);
    candidates = s
      .all(workspaces.map((w) => s.call('asana_task_search', { workspace_gid: w.gid, text: taskName, opt_fields: 'name' })))
      .flatMap((o) => named(succeeded(searchAvailable(o, action), action)));
  } else if (s.has('asana_projects_list') && (s.has('asana_project_tasks_list') || s.has('asana_tasks_list'))) {
    // No search tool: look through every project the caller can see.
    const workspaces = s.has('asana_workspaces_list') ? listWorkspaces(s, action) : undefined;
    const projects = uniqueByGid(
      (workspaces
        ? s.all(workspaces.map((w) => s.call('asana_projects_list', { workspace_gid: w.gid, opt_fields: 'name,workspace' })))
        : [s.one(s.call('asana_projects_list', { opt_fields: 'name,workspace' }))]
      ).flatMap((o) => named(succeeded(o, action))),
    );
    candidates = s
      .all(
        projects.map((p) =>
          s.has('asana_project_tasks_list')
            ? s.call('asana_project_tasks_list', { project_gid: p.gid, opt_fields: 'name' })
            : s.call('asana_tasks_list', { project: p.gid, opt_fields: 'name' }),
        ),
      )
      .flatMap((o) => named(succeeded(o, action)));
  } else {
    throw missingTool(action, 'asana_task_search');
  }
  const key = normalise(taskName);
  const matches = uniqueByGid(candidates).filter((t) => normalise(t.name) === key);
  const [first, second] = matches;
  if (!first) throw new FinalAnswer(`I couldn't find a task named "${taskName}" that you can see in Asana.`);
  if (second) {
    const gids = matches.map((m) => m.gid).join(', ');
    throw new FinalAnswer(`I found ${matches.length} tasks named "${first.name}" (gids ${gids}); which one should I comment on?`);
  }
  return first;
}

// ---------------------------------------------------------------------------------------------
// History and tool results

/** The current request (the newest user text that is not a tool result) and the calls made since. */
function readHistory(messages: readonly PlannerMessage[]): { requestText: string; ledger: LedgerEntry[] } {
  let start = -1;
  let requestText = '';
  for (let i = messages.length - 1; i >= 0; i--) {
    const message = messages[i];
    if (message?.role !== 'user' || message.content.some((b) => b.type === 'tool_result')) continue;
    const text = message.content
      .flatMap((b) => (b.type === 'text' ? [b.text] : []))
      .join('\n')
      .trim();
    if (text) {
      start = i;
      requestText = text;
      break;
    }
  }
  const ledger: LedgerEntry[] = [];
  if (start < 0) return { requestText, ledger };
  const byId = new Map<string, LedgerEntry>();
  for (const message of messages.slice(start + 1)) {
    for (const block of message.content) {
      if (message.role === 'assistant' && block.type === 'tool_use') {
        const entry: LedgerEntry = { name: block.name, key: callKey(block.name, block.input), outcome: undefined };
        ledger.push(entry);
        byId.set(block.id, entry);
      } else if (message.role === 'user' && block.type === 'tool_result') {
        const entry = byId.get(block.tool_use_id);
        if (entry) entry.outcome = readToolResult(block);
      }
    }
  }
  return { requestText, ledger };
}

/** A result the agent marked as untrusted data: `<untrusted_tool_output tool="…">\n…\n</untrusted_tool_output>`. */
const UNTRUSTED_WRAPPER = /^<untrusted_tool_output[^>]*>\n([\s\S]*)\n<\/untrusted_tool_output>$/;

/**
 * Tool results are usually JSON text, `{"data": …}` as Asana answers or the raw data, possibly
 * inside the agent's untrusted-data wrapper (read as data, as Claude would); errors are explicit.
 */
function readToolResult(block: Extract<PlannerBlock, { type: 'tool_result' }>): Outcome {
  const joined =
    typeof block.content === 'string'
      ? block.content
      : (block.content ?? []).flatMap((b) => (b.type === 'text' && typeof b.text === 'string' ? [b.text] : [])).join('\n');
  const text = UNTRUSTED_WRAPPER.exec(joined)?.[1] ?? joined;
  const parsed = parseJson(text);
  if (block.is_error === true) return { ok: false, error: errorMessage(parsed, text) };
  if (isRecord(parsed) && !('data' in parsed) && ('errors' in parsed || 'error' in parsed)) {
    return { ok: false, error: errorMessage(parsed, text) };
  }
  let value: unknown = parsed === undefined ? text : parsed;
  while (isRecord(value) && 'data' in value) value = value.data;
  return { ok: true, value };
}

function errorMessage(parsed: unknown, text: string): string {
  if (isRecord(parsed)) {
    const errors = parsed.errors;
    if (Array.isArray(errors) && isRecord(errors[0]) && typeof errors[0].message === 'string') return errors[0].message;
    const error = parsed.error;
    if (typeof error === 'string') return error;
    if (isRecord(error) && typeof error.message === 'string') return error.message;
    if (typeof parsed.message === 'string') return parsed.message;
  }
  return text.trim() || 'the tool reported an error without a message';
}

/** Replays a plan against the ledger: answered calls return their outcome, the rest are requested. */
class Session {
  private readonly tools: Map<string, PlannerTool>;

  constructor(
    private readonly ledger: readonly LedgerEntry[],
    tools: readonly PlannerTool[],
  ) {
    this.tools = new Map(tools.map((t) => [t.name, t]));
  }

  has(name: string): boolean {
    return this.tools.has(name);
  }

  /** A call of a tool the request offers, keeping only the parameters its schema declares. */
  call(name: string, input: Record<string, unknown>): PlannedToolCall {
    const tool = this.tools.get(name);
    if (!tool) throw new Error(`planner bug: ${name} is not offered`);
    const properties = tool.input_schema?.properties;
    const fitted: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(input)) {
      if (value === undefined) continue;
      if (properties && !(key in properties)) continue;
      fitted[key] = value;
    }
    return { name, input: fitted };
  }

  one(call: PlannedToolCall): Outcome {
    const [outcome] = this.all([call]);
    if (!outcome) throw new Error('planner bug: no outcome');
    return outcome;
  }

  /** Outcomes of independent calls, or a `NeedCalls` for those without a result yet. */
  all(calls: readonly PlannedToolCall[]): Outcome[] {
    const missing: PlannedToolCall[] = [];
    const outcomes: Outcome[] = [];
    for (const call of calls) {
      const key = callKey(call.name, call.input);
      const entry = this.ledger.find((e) => e.key === key);
      if (entry?.outcome) outcomes.push(entry.outcome);
      else if (!entry && !missing.some((m) => callKey(m.name, m.input) === key)) missing.push(call);
      // A call without an outcome cannot happen in a valid request (every tool_use is answered).
    }
    if (missing.length > 0) throw new NeedCalls(missing);
    return outcomes;
  }
}

/** Asana offers task search only on premium plans (`402` otherwise): say so plainly instead of relaying the error. */
function searchAvailable(outcome: Outcome, action: string): Outcome {
  if (!outcome.ok && /premium|\b402\b|payment required/i.test(outcome.error)) {
    throw new FinalAnswer(
      `I couldn't ${action}: task search is unavailable in this Asana workspace (Asana offers it only on premium plans).`,
    );
  }
  return outcome;
}

function succeeded(outcome: Outcome, action: string): unknown {
  if (!outcome.ok) throw new FinalAnswer(`I couldn't ${action}: ${outcome.error}`);
  return outcome.value;
}

function missingTool(action: string, tool: string): FinalAnswer {
  return new FinalAnswer(`I can't ${action}: the ${tool} tool isn't available to me here.`);
}

function named(value: unknown): Named[] {
  const list = Array.isArray(value) ? value : [value];
  return list.flatMap((item) => {
    if (!isRecord(item)) return [];
    const gid = asString(item.gid);
    const name = asString(item.name);
    return gid !== undefined && name !== undefined ? [{ gid, name, record: item }] : [];
  });
}

function single(value: unknown): Named | undefined {
  return named(value)[0];
}

function uniqueByGid(items: readonly Named[]): Named[] {
  const seen = new Set<string>();
  return items.filter((item) => !seen.has(item.gid) && seen.add(item.gid));
}

function workspaceOf(project: Record<string, unknown>): string | undefined {
  const workspace = project.workspace;
  return isRecord(workspace) ? asString(workspace.gid) : undefined;
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

function normalise(name: string): string {
  return name.trim().replace(/\s+/g, ' ').toLowerCase();
}

function callKey(name: string, input: unknown): string {
  return `${name} ${canonicalJson(input)}`;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function asString(value: unknown): string | undefined {
  if (typeof value === 'string' && value !== '') return value;
  if (typeof value === 'number') return String(value);
  return undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
