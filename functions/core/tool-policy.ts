/** What the deployment lets the agent do with a tool on the user's behalf. */
export type ToolPolicy = 'allow' | 'confirm' | 'deny';

/** A tool's policy: the deployment's setting, else `allow` (the tool is already allowlisted). */
export function policyFor(policies: Readonly<Record<string, ToolPolicy>>, toolName: string): ToolPolicy {
  return policies[toolName] ?? 'allow';
}
