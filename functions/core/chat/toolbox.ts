import type { ToolDefinition } from '../domain';
import { policyFor } from '../tool-policy';
import type { ChatDeps } from './settings';

/** The tools Claude may use in this request, or the connection that needs the user first. */
export type Toolbox =
  | {
      readonly kind: 'ready';
      readonly tools: readonly ToolDefinition[];
      readonly connectionOf: ReadonlyMap<string, string>;
      /** Each tool's `input_schema` as listed for the caller: what its inputs are checked against. */
      readonly schemaOf: ReadonlyMap<string, Record<string, unknown>>;
    }
  | { readonly kind: 'unauthorized'; readonly connection: string };

/**
 * Checks the caller's connections and lists their scoped tools: allowlisted, not denied by
 * policy, the first connection offering a tool wins, sorted by name (a stable prompt prefix).
 */
export async function openToolbox(deps: Pick<ChatDeps, 'accounts' | 'settings'>, sub: string): Promise<Toolbox> {
  const allowed = new Set(deps.settings.toolAllowlist);
  const connectionOf = new Map<string, string>();
  const tools: ToolDefinition[] = [];
  for (const connection of deps.settings.connections) {
    const account = await deps.accounts.get(sub, connection);
    if (account?.status !== 'ACTIVE') return { kind: 'unauthorized', connection };
    for (const tool of await deps.accounts.listTools(sub, [connection])) {
      if (!allowed.has(tool.name) || connectionOf.has(tool.name)) continue;
      if (policyFor(deps.settings.toolPolicy, tool.name) === 'deny') continue;
      connectionOf.set(tool.name, connection);
      tools.push(tool);
    }
  }
  tools.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { kind: 'ready', tools, connectionOf, schemaOf: new Map(tools.map((tool) => [tool.name, tool.input_schema])) };
}
