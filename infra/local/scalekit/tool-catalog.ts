import { z } from 'zod';
import catalogFile from '../../../functions/core/asana-tools.json';

type JsonSchemaType = 'string' | 'boolean' | 'number' | 'integer' | 'object' | 'array';

const propertySchema = z.object({ type: z.enum(['string', 'boolean', 'number', 'integer', 'object', 'array']) });

const toolSchema = z.object({
  name: z.string().regex(/^[a-z0-9_]+$/),
  kind: z.enum(['read', 'write', 'delete']),
  description: z.string().min(1),
  input_schema: z.object({
    type: z.literal('object'),
    properties: z.record(z.string(), propertySchema),
    required: z.array(z.string()),
  }),
});

/** One tool of Scalekit's Asana connector, as `functions/core/asana-tools.json` publishes it. */
export type CatalogTool = z.infer<typeof toolSchema>;

/** Scalekit's provider key for the Asana connector. */
export const ASANA_PROVIDER = 'ASANA';

/** The tools the emulator serves, checked once at load (a malformed catalog stops the start). */
export const ASANA_TOOLS: readonly CatalogTool[] = z.array(toolSchema).parse(catalogFile);

const toolsByName = new Map(ASANA_TOOLS.map((tool) => [tool.name, tool]));

export function findTool(name: string): CatalogTool | undefined {
  return toolsByName.get(name);
}

/**
 * The OAuth scope a tool needs beyond the plain read scopes: writing a comment (a story) needs
 * `stories:write`, every other write `tasks:write`, a delete `tasks:delete`, and finding projects
 * by name (the workspace typeahead) `workspaces.typeahead:read`, as Asana requires.
 */
export function requiredScope(tool: CatalogTool): string | undefined {
  if (tool.kind === 'delete') return 'tasks:delete';
  if (tool.kind === 'write') return tool.name.startsWith('asana_story_') ? 'stories:write' : 'tasks:write';
  return tool.name === 'asana_projects_search' ? 'workspaces.typeahead:read' : undefined;
}

/** Whether a grant with these scopes may use the tool (and so sees it in its scoped tool list). */
export function grantAllows(tool: CatalogTool, scopes: readonly string[]): boolean {
  const needed = requiredScope(tool);
  return needed === undefined || scopes.includes(needed) || scopes.includes('default');
}

export interface FieldViolation {
  field: string;
  description: string;
}

function matchesType(value: unknown, type: JsonSchemaType): boolean {
  switch (type) {
    case 'string':
      return typeof value === 'string';
    case 'boolean':
      return typeof value === 'boolean';
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'integer':
      return typeof value === 'number' && Number.isInteger(value);
    case 'array':
      return Array.isArray(value);
    case 'object':
      return typeof value === 'object' && value !== null && !Array.isArray(value);
  }
}

/**
 * Validates a tool input against the tool's `input_schema`: required properties present, every known
 * property of its declared type (`null` is not a string: the SDK turns `undefined` into `null`),
 * no property the schema does not declare.
 */
export function validateToolInput(tool: CatalogTool, input: Record<string, unknown>): FieldViolation[] {
  const violations: FieldViolation[] = [];
  const { properties, required } = tool.input_schema;
  for (const name of required) {
    if (!(name in input)) violations.push({ field: name, description: `${name} is required` });
  }
  for (const [name, value] of Object.entries(input)) {
    const property = properties[name];
    if (property === undefined) {
      violations.push({ field: name, description: `${name} is not a parameter of ${tool.name}` });
    } else if (!matchesType(value, property.type)) {
      violations.push({ field: name, description: `${name} must be of type ${property.type}` });
    }
  }
  return violations;
}
