import catalog from './asana-tools.json';

/** What the deployment lets the agent do with a tool on the user's behalf. */
export type ToolPolicy = 'allow' | 'confirm' | 'deny';

/** What a tool does, as the tool catalog says: the keys a policy may use besides tool names. */
export type ToolKind = 'read' | 'write' | 'delete';
export const TOOL_KINDS: readonly ToolKind[] = ['read', 'write', 'delete'];

/**
 * The policy every deployment starts from: reads run, writes and deletes wait for the user.
 * A deployment's setting is merged over it.
 */
export const DEFAULT_TOOL_POLICY: Readonly<Record<ToolKind, ToolPolicy>> = { read: 'allow', write: 'confirm', delete: 'confirm' };

const KIND_OF = new Map<string, ToolKind>(catalog.map((tool) => [tool.name, tool.kind as ToolKind]));

/** The catalog's kind of a tool; `undefined` for a tool the catalog does not list. */
export function toolKind(toolName: string): ToolKind | undefined {
  return KIND_OF.get(toolName);
}

/**
 * A tool's policy: its own entry in the setting, else its kind's entry (the setting merged over
 * {@link DEFAULT_TOOL_POLICY}), else `confirm` — a tool nobody classified never runs unasked.
 */
export function policyFor(policies: Readonly<Record<string, ToolPolicy>>, toolName: string): ToolPolicy {
  const own = policies[toolName];
  if (own) return own;
  const kind = toolKind(toolName);
  if (!kind) return 'confirm';
  return policies[kind] ?? DEFAULT_TOOL_POLICY[kind];
}
