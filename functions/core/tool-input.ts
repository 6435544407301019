/**
 * Checks a tool call's input against the `input_schema` the tool was listed with, before the call
 * is recorded or sent anywhere. Claude writes these inputs, and a prompt-injected or confused
 * model can write anything: only what the schema lists may reach the provider.
 *
 * The subset of JSON Schema that tool catalogs use: `type` (one or several), `properties`,
 * `required`, `enum`, `items`, and `additionalProperties` — an object schema that lists properties
 * accepts no others unless it says `additionalProperties: true` or gives a schema for them.
 */
export function toolInputProblems(schema: Record<string, unknown>, input: unknown): string[] {
  const problems: string[] = [];
  check(schema, input, 'input', problems);
  return problems;
}

type Schema = Record<string, unknown>;

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

function matchesType(expected: string, value: unknown): boolean {
  const actual = typeOf(value);
  if (expected === 'number') return actual === 'number' || actual === 'integer';
  return expected === actual;
}

function check(schema: Schema, value: unknown, path: string, problems: string[]): void {
  const types = typeof schema.type === 'string' ? [schema.type] : Array.isArray(schema.type) ? schema.type.map(String) : [];
  if (types.length > 0 && !types.some((type) => matchesType(type, value))) {
    problems.push(`${path} must be ${types.join(' or ')}, not ${typeOf(value)}`);
    return;
  }
  if (Array.isArray(schema.enum) && !schema.enum.some((allowed) => JSON.stringify(allowed) === JSON.stringify(value))) {
    problems.push(`${path} must be one of ${schema.enum.map((allowed) => JSON.stringify(allowed)).join(', ')}`);
    return;
  }
  if (Array.isArray(value) && isRecord(schema.items)) {
    value.forEach((item, index) => {
      check(schema.items as Schema, item, `${path}[${index}]`, problems);
    });
    return;
  }
  if (!isRecord(value)) return;
  const properties = isRecord(schema.properties) ? schema.properties : undefined;
  const required = Array.isArray(schema.required) ? schema.required.map(String) : [];
  for (const name of required) {
    if (!(name in value) || value[name] === undefined) problems.push(`${path}.${name} is required`);
  }
  const extra = schema.additionalProperties;
  for (const [name, property] of Object.entries(value)) {
    const propertySchema = properties?.[name];
    if (isRecord(propertySchema)) check(propertySchema, property, `${path}.${name}`, problems);
    else if (isRecord(extra)) check(extra, property, `${path}.${name}`, problems);
    else if (extra !== true && (properties !== undefined || extra === false))
      problems.push(`${path}.${name} is not a property of this tool`);
  }
}
