import { describe, expect, it } from 'vitest';
import catalog from '../../functions/core/asana-tools.json';
import { DEFAULT_TOOL_POLICY, policyFor } from '../../functions/core/tool-policy';

describe('tool policy', () => {
  it.each([
    ['a read under the default', {}, 'asana_tasks_list', 'allow'],
    ['a write under the default', {}, 'asana_task_create', 'confirm'],
    ['a delete under the default', {}, 'asana_task_delete', 'confirm'],
    ['a tool the catalog does not list', {}, 'jira_issue_create', 'confirm'],
    ['a kind entry over the default', { write: 'allow' }, 'asana_story_create', 'allow'],
    ["a tool's own entry over its kind", { write: 'allow', asana_task_update: 'deny' }, 'asana_task_update', 'deny'],
    ["a tool's own entry over the default", { asana_tasks_list: 'confirm' }, 'asana_tasks_list', 'confirm'],
    ['a kind entry for reads', { read: 'deny' }, 'asana_projects_list', 'deny'],
    ['an unlisted tool by its own entry', { jira_issue_create: 'allow' }, 'jira_issue_create', 'allow'],
  ] as const)('%s', (_, policies, tool, expected) => {
    // Act
    const policy = policyFor(policies, tool);
    // Assess
    expect(policy).toBe(expected);
  });

  it('makes every write and delete of the catalog wait for the user by default', () => {
    // Prepare
    const writes = catalog.filter((tool) => tool.kind !== 'read');
    // Assess
    expect(writes.length).toBeGreaterThan(0);
    for (const tool of writes) expect(policyFor({}, tool.name), tool.name).toBe('confirm');
    expect(DEFAULT_TOOL_POLICY).toEqual({ read: 'allow', write: 'confirm', delete: 'confirm' });
  });
});
