import type Anthropic from '@anthropic-ai/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import asanaTools from '../../functions/core/asana-tools.json';
import type { ModelStandIn } from '../../infra/local/model/server';
import { startModelWithClient } from '../support/model';

// The planner (no script) driven through the real SDK. The test plays the tool side itself,
// from two fake Asana datasets that share nothing with the world file, and checks that every
// name in the reply and every gid sent to a tool came from these tool results.

const MODEL = 'claude-sonnet-5-5';

interface FakeTask {
  gid: string;
  name: string;
  project: string;
  assignee?: string;
  completed?: boolean;
}

interface FakeAsana {
  label: string;
  /** How tool results are shaped: Asana's `{"data": …}` JSON, the raw data, or text blocks. */
  format: 'envelope' | 'raw' | 'blocks';
  me: { gid: string; name: string; email: string };
  workspaces: Array<{ gid: string; name: string }>;
  projects: Array<{ gid: string; name: string; workspace: string }>;
  tasks: FakeTask[];
  /** The project to ask about, the one with no tasks, and a task to comment on. */
  ask: { project: string; emptyProject: string; commentTask: string };
}

const worldA: FakeAsana = {
  label: 'world A (Asana envelopes, one workspace)',
  format: 'envelope',
  me: { gid: '7101', name: 'Dana Ruiz', email: 'dana@orbit.test' },
  workspaces: [{ gid: '7001', name: 'Orbit' }],
  projects: [
    { gid: '7201', name: 'Website', workspace: '7001' },
    { gid: '7202', name: 'Billing', workspace: '7001' },
    { gid: '7203', name: 'Parking Lot', workspace: '7001' },
  ],
  tasks: [
    { gid: '7301', name: 'Draft hero copy', project: '7201', assignee: '7102' },
    { gid: '7302', name: 'Audit image sizes', project: '7201', assignee: '7101' },
    { gid: '7303', name: 'Ship cookie banner', project: '7201', assignee: '7101', completed: true },
    { gid: '7304', name: 'Refund flow', project: '7202', assignee: '7101' },
    { gid: '7305', name: 'Invoice PDF layout', project: '7202', assignee: '7102' },
  ],
  ask: { project: 'Website', emptyProject: 'Parking Lot', commentTask: 'Refund flow' },
};

const worldB: FakeAsana = {
  label: 'world B (raw data in text blocks, two workspaces)',
  format: 'blocks',
  me: { gid: '880042', name: 'Ola Berg', email: 'ola@northwind.test' },
  workspaces: [
    { gid: '880001', name: 'Northwind' },
    { gid: '880002', name: 'Side Projects' },
  ],
  projects: [
    { gid: '880101', name: 'Mobile App', workspace: '880001' },
    { gid: '880102', name: 'Empty Board', workspace: '880001' },
    { gid: '880103', name: 'Garden', workspace: '880002' },
  ],
  tasks: [
    { gid: '880201', name: 'Crash on login', project: '880101', assignee: '880042' },
    { gid: '880202', name: 'Dark mode', project: '880101' },
    { gid: '880203', name: 'Offline sync', project: '880101', assignee: '880099' },
    { gid: '880204', name: 'Buy seeds', project: '880103', assignee: '880042' },
    { gid: '880205', name: 'Fix fence', project: '880103', assignee: '880042', completed: true },
  ],
  ask: { project: 'Mobile App', emptyProject: 'Empty Board', commentTask: 'Dark mode' },
};

const allTools: Anthropic.Tool[] = asanaTools.map(({ name, description, input_schema }) => ({
  name,
  description,
  input_schema: input_schema as Anthropic.Tool.InputSchema,
}));

interface ToolCall {
  name: string;
  input: Record<string, unknown>;
}

/** Plays Asana for the planner's tool calls, from one fake dataset. */
class FakeAsanaTools {
  readonly calls: ToolCall[] = [];
  readonly knownGids: Set<string>;
  private nextGid = 1;

  constructor(
    private readonly world: FakeAsana,
    private readonly failing: Record<string, string> = {},
  ) {
    this.knownGids = new Set([
      world.me.gid,
      ...world.workspaces.map((w) => w.gid),
      ...world.projects.map((p) => p.gid),
      ...world.tasks.map((t) => t.gid),
    ]);
  }

  /** The tool_result for one call. */
  answer(id: string, name: string, input: Record<string, unknown>): Anthropic.ToolResultBlockParam {
    const result = this.run(name, input);
    return 'error' in result
      ? { type: 'tool_result', tool_use_id: id, content: result.error, is_error: true }
      : { type: 'tool_result', tool_use_id: id, content: result.content };
  }

  private run(name: string, input: Record<string, unknown>): { content: Anthropic.ToolResultBlockParam['content'] } | { error: string } {
    this.calls.push({ name, input });
    const failure = this.failing[name];
    if (failure) return { error: failure };
    const w = this.world;
    const task = (t: FakeTask) => ({ gid: t.gid, name: t.name, resource_type: 'task', completed: t.completed ?? false });
    switch (name) {
      case 'asana_me_get':
        return this.shape({ ...w.me, resource_type: 'user', workspaces: w.workspaces });
      case 'asana_workspaces_list':
        return this.shape(w.workspaces.map((x) => ({ ...x, resource_type: 'workspace' })));
      case 'asana_projects_list':
        return this.shape(
          w.projects
            .filter((p) => input.workspace_gid === undefined || p.workspace === input.workspace_gid)
            // Compact records (world B) carry no workspace: the planner knows it from its own call.
            .map((p) => ({
              gid: p.gid,
              name: p.name,
              resource_type: 'project',
              ...(w.format === 'envelope' ? { workspace: { gid: p.workspace } } : {}),
            })),
        );
      case 'asana_project_tasks_list': {
        if (!w.projects.some((p) => p.gid === input.project_gid)) return { error: `project: Unknown object: ${String(input.project_gid)}` };
        return this.shape(w.tasks.filter((t) => t.project === input.project_gid).map(task));
      }
      case 'asana_tasks_list': {
        if (input.project !== undefined) return this.shape(w.tasks.filter((t) => t.project === input.project).map(task));
        const inWorkspace = (t: FakeTask) => w.projects.some((p) => p.gid === t.project && p.workspace === input.workspace_gid);
        return this.shape(
          w.tasks
            .filter((t) => t.assignee === input.assignee && inWorkspace(t))
            .filter((t) => input.completed_since !== 'now' || !t.completed)
            .map(task),
        );
      }
      case 'asana_task_search': {
        const text = String(input.text ?? '').toLowerCase();
        const inWorkspace = (t: FakeTask) => w.projects.some((p) => p.gid === t.project && p.workspace === input.workspace_gid);
        return this.shape(w.tasks.filter((t) => inWorkspace(t) && t.name.toLowerCase().includes(text)).map(task));
      }
      case 'asana_task_create': {
        const gid = `${w.me.gid}00${this.nextGid++}`;
        this.knownGids.add(gid);
        const assignee = input.assignee === w.me.gid ? { gid: w.me.gid, name: w.me.name } : null;
        return this.shape({ gid, name: input.name, notes: input.notes ?? '', assignee, resource_type: 'task' });
      }
      case 'asana_story_create': {
        if (!w.tasks.some((t) => t.gid === input.task_gid)) return { error: `task: Unknown object: ${String(input.task_gid)}` };
        return this.shape({ gid: `${w.me.gid}99`, text: input.text, resource_type: 'story', resource_subtype: 'comment_added' });
      }
      default:
        return { error: `${name} is not implemented by this fake` };
    }
  }

  private shape(data: unknown): { content: Anthropic.ToolResultBlockParam['content'] } {
    if (this.world.format === 'envelope') return { content: JSON.stringify({ data }) };
    if (this.world.format === 'raw') return { content: JSON.stringify(data) };
    return { content: [{ type: 'text', text: JSON.stringify(data) }] };
  }

  /** Every gid-like value the planner sent. */
  sentGids(): string[] {
    return this.calls.flatMap((c) =>
      Object.entries(c.input)
        .filter(([key]) => key.endsWith('_gid') || ['projects', 'project', 'assignee'].includes(key))
        .map(([, value]) => String(value)),
    );
  }
}

let model: ModelStandIn;
let client: Anthropic;

beforeAll(async () => {
  ({ model, client } = await startModelWithClient());
});
afterAll(() => model.close());

/** Runs the tool loop through the SDK until Claude ends its turn. */
async function converse(
  prompt: string,
  asana: FakeAsanaTools,
  options: { tools?: Anthropic.Tool[]; stream?: boolean } = {},
): Promise<{ reply: string; turns: number }> {
  const tools = options.tools ?? allTools;
  const offered = new Set(tools.map((t) => t.name));
  const messages: Anthropic.MessageParam[] = [{ role: 'user', content: prompt }];
  for (let turn = 1; turn <= 12; turn++) {
    const params: Anthropic.MessageCreateParamsNonStreaming = { model: MODEL, max_tokens: 2048, tools, messages };
    const message = options.stream ? await client.messages.stream(params).finalMessage() : await client.messages.create(params);
    const content = message.content.flatMap((b): Anthropic.ContentBlockParam[] => {
      if (b.type === 'text') return [{ type: 'text', text: b.text }];
      if (b.type === 'tool_use') return [{ type: 'tool_use', id: b.id, name: b.name, input: b.input }];
      return [];
    });
    messages.push({ role: 'assistant', content });
    if (message.stop_reason !== 'tool_use') {
      return { reply: message.content.flatMap((b) => (b.type === 'text' ? [b.text] : [])).join(''), turns: turn };
    }
    const results = message.content.flatMap((b): Anthropic.ToolResultBlockParam[] => {
      if (b.type !== 'tool_use') return [];
      expect(offered.has(b.name), `${b.name} was not offered`).toBe(true);
      return [asana.answer(b.id, b.name, b.input as Record<string, unknown>)];
    });
    messages.push({ role: 'user', content: results });
  }
  throw new Error('the planner did not end its turn');
}

function expectOnlyKnownGids(asana: FakeAsanaTools): void {
  for (const gid of asana.sentGids()) expect(asana.knownGids, `gid ${gid}`).toContain(gid);
}

describe.each([worldA, worldB])('the planner on $label', (world) => {
  const projectOf = (name: string) => {
    const project = world.projects.find((p) => p.name === name);
    if (!project) throw new Error(`no project ${name}`);
    return project;
  };
  const otherTaskNames = (keep: (t: FakeTask) => boolean) => world.tasks.filter((t) => !keep(t)).map((t) => t.name);

  it.each(['board', 'project'])('answers "What\'s in the <project> %s?" with exactly its tasks', async (noun) => {
    // Prepare
    const asana = new FakeAsanaTools(world);
    const project = projectOf(world.ask.project);
    const inProject = (t: FakeTask) => t.project === project.gid;

    // Act
    const { reply } = await converse(`What's in the ${world.ask.project} ${noun}?`, asana);

    // Assess
    const expected = world.tasks.filter(inProject);
    expect(reply).toContain(`The ${project.name} project has ${expected.length} tasks:`);
    for (const task of expected) expect(reply).toContain(task.name);
    for (const name of otherTaskNames(inProject)) expect(reply).not.toContain(name);
    expect(asana.calls.map((c) => c.name)).toContain('asana_project_tasks_list');
    expect(asana.calls.find((c) => c.name === 'asana_project_tasks_list')?.input.project_gid).toBe(project.gid);
    expectOnlyKnownGids(asana);
  });

  it('streams the same loop to the same answer', async () => {
    // Prepare
    const plain = new FakeAsanaTools(world);
    const streamed = new FakeAsanaTools(world);

    // Act
    const a = await converse(`What's in the ${world.ask.project} board?`, plain);
    const b = await converse(`What's in the ${world.ask.project} board?`, streamed, { stream: true });

    // Assess
    expect(b.reply).toBe(a.reply);
    expect(streamed.calls).toEqual(plain.calls);
  });

  it('says plainly that a project has no tasks, or that there is no such project', async () => {
    // Act
    const empty = await converse(`What's in the ${world.ask.emptyProject} project?`, new FakeAsanaTools(world));
    const missing = await converse("What's in the Nonexistent Thing board?", new FakeAsanaTools(world));

    // Assess
    expect(empty.reply).toBe(`The ${world.ask.emptyProject} project has no tasks.`);
    expect(missing.reply).toMatch(/couldn't find a project named "Nonexistent Thing"/);
  });

  it('lists my open tasks: mine, not done, across my workspaces', async () => {
    // Prepare
    const asana = new FakeAsanaTools(world);
    const mineOpen = (t: FakeTask) => t.assignee === world.me.gid && !t.completed;

    // Act
    const { reply } = await converse('List my open tasks', asana);

    // Assess
    const expected = world.tasks.filter(mineOpen);
    expect(reply).toContain(`You have ${expected.length} open task`);
    for (const task of expected) expect(reply).toContain(task.name);
    for (const name of otherTaskNames(mineOpen)) expect(reply).not.toContain(name);
    for (const call of asana.calls.filter((c) => c.name === 'asana_tasks_list')) {
      expect(call.input.assignee).toBe(world.me.gid);
    }
    expectOnlyKnownGids(asana);
  });

  it('creates a high-priority task in the project, assigned to me', async () => {
    // Prepare
    const asana = new FakeAsanaTools(world);
    const project = projectOf(world.ask.project);

    // Act
    const { reply } = await converse(
      `Create a high-priority task "Review Q3 roadmap" in the "${world.ask.project}" project and assign it to me`,
      asana,
    );

    // Assess
    const creates = asana.calls.filter((c) => c.name === 'asana_task_create');
    expect(creates).toHaveLength(1);
    expect(creates[0]?.input).toMatchObject({
      name: 'Review Q3 roadmap',
      projects: project.gid,
      assignee: world.me.gid,
      workspace_gid: project.workspace,
      notes: expect.stringMatching(/high priority/i),
    });
    expect(reply).toContain('"Review Q3 roadmap"');
    expect(reply).toContain(`${world.me.gid}001`);
    expect(reply).toContain(project.name);
    expect(reply).toContain(world.me.name);
    expectOnlyKnownGids(asana);
  });

  it('adds a comment to a task found by name', async () => {
    // Prepare
    const asana = new FakeAsanaTools(world);
    const task = world.tasks.find((t) => t.name === world.ask.commentTask);

    // Act
    const { reply } = await converse(`Add a comment "Looks good to me" to the task "${world.ask.commentTask}"`, asana);

    // Assess
    const stories = asana.calls.filter((c) => c.name === 'asana_story_create');
    expect(stories).toEqual([{ name: 'asana_story_create', input: { task_gid: task?.gid, text: 'Looks good to me' } }]);
    expect(reply).toBe(`I added the comment "Looks good to me" to the task "${world.ask.commentTask}".`);
    expectOnlyKnownGids(asana);
  });

  it('says task search is unavailable when Asana answers it 402 (free plan)', async () => {
    // Prepare: what the product passes on of Asana's 402
    const asana = new FakeAsanaTools(world, { asana_task_search: '402: Search is only available to premium users.' });

    // Act
    const { reply } = await converse(`Add a comment "Looks good to me" to the task "${world.ask.commentTask}"`, asana);

    // Assess
    expect(reply).toContain('task search is unavailable');
    expect(asana.calls.filter((c) => c.name === 'asana_story_create')).toEqual([]);
  });

  it('reports a failed tool call with its message', async () => {
    // Prepare
    const asana = new FakeAsanaTools(world, { asana_project_tasks_list: 'Forbidden: you do not have access to this project' });

    // Act
    const { reply } = await converse(`What's in the ${world.ask.project} board?`, asana);

    // Assess
    expect(reply).toMatch(/^I couldn't list the tasks of the ".+" project: Forbidden: you do not have access to this project$/);
    for (const task of world.tasks) expect(reply).not.toContain(task.name);
  });

  it('says so when a needed tool is not offered, and calls only the tools offered', async () => {
    // Prepare
    const asana = new FakeAsanaTools(world);
    const tools = allTools.filter((t) => t.name !== 'asana_story_create');

    // Act
    const { reply } = await converse(`Add a comment "hi" to the task "${world.ask.commentTask}"`, asana, { tools });

    // Assess
    expect(reply).toMatch(/asana_story_create tool isn't available/);
    expect(asana.calls).toEqual([]);
  });

  it('finds the project through asana_tasks_list when asana_project_tasks_list is not offered', async () => {
    // Prepare
    const asana = new FakeAsanaTools(world);
    const tools = allTools.filter((t) => !['asana_project_tasks_list'].includes(t.name));

    // Act
    await converse(`What's in the ${world.ask.project} board?`, asana, { tools });

    // Assess
    expect(asana.calls.map((c) => c.name)).not.toContain('asana_project_tasks_list');
    expect(asana.calls.find((c) => c.name === 'asana_tasks_list')?.input).toEqual({
      project: projectOf(world.ask.project).gid,
      opt_fields: 'name,completed',
    });
  });
});
