import { describe, expect, it } from 'vitest';

import asanaTools from '../../functions/core/asana-tools.json';
import { type PlannerMessage, type PlannerTool, plan } from '../../infra/local/model/planner';

// The Claude stand-in's planner as a pure function: history and tools in, next turn out.

const tools: PlannerTool[] = asanaTools.map(({ name, input_schema }) => ({ name, input_schema }));

const user = (text: string): PlannerMessage => ({ role: 'user', content: [{ type: 'text', text }] });

/** The assistant's tool calls and the user's results for them, as the product would send them. */
function exchange(calls: Array<{ name: string; input: Record<string, unknown>; result: string; isError?: boolean }>): PlannerMessage[] {
  return [
    {
      role: 'assistant',
      content: calls.map((c, i) => ({ type: 'tool_use' as const, id: `toolu_${c.name}_${i}`, name: c.name, input: c.input })),
    },
    {
      role: 'user',
      content: calls.map((c, i) => ({
        type: 'tool_result' as const,
        tool_use_id: `toolu_${c.name}_${i}`,
        content: c.result,
        is_error: c.isError ?? false,
      })),
    },
  ];
}

function toolCalls(output: ReturnType<typeof plan>) {
  return output.content.flatMap((b) => (b.type === 'tool_use' ? [{ name: b.name, input: b.input }] : []));
}

function text(output: ReturnType<typeof plan>): string {
  return output.content.flatMap((b) => (b.type === 'text' ? [b.text] : [])).join('');
}

describe('plan', () => {
  it('starts a project question by listing workspaces', () => {
    // Act
    const output = plan({ messages: [user("What's in the Website board?")], tools });

    // Assess
    expect(output.stopReason).toBe('tool_use');
    expect(toolCalls(output)).toEqual([{ name: 'asana_workspaces_list', input: {} }]);
  });

  it('finds a project whose unquoted name holds punctuation', () => {
    // Prepare
    const messages = [
      user("What's in the v2.0 Launch board?"),
      ...exchange([{ name: 'asana_workspaces_list', input: {}, result: JSON.stringify({ data: [{ gid: '7', name: 'W' }] }) }]),
      ...exchange([
        {
          name: 'asana_projects_list',
          input: { workspace_gid: '7', opt_fields: 'name,workspace' },
          result: JSON.stringify({ data: [{ gid: '70', name: 'v2.0 Launch' }] }),
        },
      ]),
    ];

    // Act
    const output = plan({ messages, tools });

    // Assess
    expect(toolCalls(output)).toEqual([{ name: 'asana_project_tasks_list', input: expect.objectContaining({ project_gid: '70' }) }]);
  });

  it('reads results inside the untrusted-data wrapper as the data they hold', () => {
    // Prepare
    const wrap = (json: unknown) => `<untrusted_tool_output tool="x">\n${JSON.stringify(json)}\n</untrusted_tool_output>`;
    const messages = [
      user("What's in the v2.0 Launch board?"),
      ...exchange([{ name: 'asana_workspaces_list', input: {}, result: wrap({ data: [{ gid: '7', name: 'W' }] }) }]),
      ...exchange([
        {
          name: 'asana_projects_list',
          input: { workspace_gid: '7', opt_fields: 'name,workspace' },
          result: wrap({ data: [{ gid: '70', name: 'v2.0 Launch' }] }),
        },
      ]),
    ];

    // Act
    const output = plan({ messages, tools });

    // Assess
    expect(toolCalls(output)).toEqual([{ name: 'asana_project_tasks_list', input: expect.objectContaining({ project_gid: '70' }) }]);
  });

  it('asks for independent calls in one turn, or one at a time when parallel tool use is off', () => {
    // Act
    const parallel = plan({ messages: [user('List my open tasks')], tools });
    const single = plan({ messages: [user('List my open tasks')], tools, singleToolPerTurn: true });

    // Assess
    expect(toolCalls(parallel).map((c) => c.name)).toEqual(['asana_me_get', 'asana_workspaces_list']);
    expect(toolCalls(single).map((c) => c.name)).toEqual(['asana_me_get']);
  });

  it('sends only the parameters the tool schema declares', () => {
    // Prepare
    const bare: PlannerTool[] = [
      { name: 'asana_workspaces_list', input_schema: { properties: {} } },
      { name: 'asana_projects_list', input_schema: { properties: { workspace_gid: {} } } },
    ];
    const messages = [
      user("What's in the Apollo project?"),
      ...exchange([{ name: 'asana_workspaces_list', input: {}, result: '{"data":[{"gid":"42","name":"Acme"}]}' }]),
    ];

    // Act
    const output = plan({ messages, tools: bare });

    // Assess
    expect(toolCalls(output)).toEqual([{ name: 'asana_projects_list', input: { workspace_gid: '42' } }]);
  });

  it('takes gids from tool results, whatever their shape', () => {
    // Prepare
    const messages = [
      user("What's in the Apollo project?"),
      ...exchange([{ name: 'asana_workspaces_list', input: {}, result: '[{"gid":"42","name":"Acme"}]' }]),
      ...exchange([
        {
          name: 'asana_projects_list',
          input: { workspace_gid: '42', opt_fields: 'name,workspace' },
          result: '{"data":{"data":[{"gid":"9","name":"apollo"}]}}',
        },
      ]),
    ];

    // Act
    const output = plan({ messages, tools });

    // Assess
    expect(toolCalls(output)).toEqual([{ name: 'asana_project_tasks_list', input: { project_gid: '9', opt_fields: 'name,completed' } }]);
  });

  it('answers plainly when a tool failed', () => {
    // Prepare
    const messages = [
      user('List my open tasks'),
      ...exchange([
        { name: 'asana_me_get', input: {}, result: 'Asana said 401: token expired', isError: true },
        { name: 'asana_workspaces_list', input: {}, result: '[]' },
      ]),
    ];

    // Act
    const output = plan({ messages, tools });

    // Assess
    expect(output.stopReason).toBe('end_turn');
    expect(text(output)).toBe("I couldn't list your open tasks: Asana said 401: token expired");
  });

  it('reads an Asana error body that arrives without is_error', () => {
    // Prepare
    const messages = [
      user("What's in the Apollo project?"),
      ...exchange([{ name: 'asana_workspaces_list', input: {}, result: '{"errors":[{"message":"Not Authorized"}]}' }]),
    ];

    // Act
    const output = plan({ messages, tools });

    // Assess
    expect(text(output)).toBe('I couldn\'t list the tasks of the "Apollo" project: Not Authorized');
  });

  it('answers the newest request of a continued conversation', () => {
    // Prepare
    const messages: PlannerMessage[] = [
      user('Hello'),
      { role: 'assistant', content: [{ type: 'text', text: 'Hi.' }] },
      user('List my open tasks'),
    ];

    // Act
    const output = plan({ messages, tools });

    // Assess
    expect(toolCalls(output).map((c) => c.name)).toEqual(['asana_me_get', 'asana_workspaces_list']);
  });

  it('says plainly which tool is missing, and answers unknown requests with text', () => {
    // Act
    const missing = plan({ messages: [user('Create a task "X" in the "Y" project')], tools: [] });
    const unknown = plan({ messages: [user('Tell me a joke')], tools });

    // Assess
    expect(text(missing)).toBe('I can\'t create the task "X": the asana_task_create tool isn\'t available to me here.');
    expect(unknown.stopReason).toBe('end_turn');
    expect(text(unknown)).toMatch(/^I can help with your Asana work/);
  });
});
