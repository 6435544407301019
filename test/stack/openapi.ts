/**
 * Checks API answers against the committed OpenAPI document (`docs/openapi.json`): the body of
 * every answer must match the schema of its route and status (or the route's `default`); an
 * answer of no documented route (a 404 for an unknown path) must have the error shape. Streams
 * (`text/event-stream`) are checked to be documented there, not event by event; CORS preflights are skipped.
 * No vitest here: the bench and tests share it.
 */
import { readFileSync } from 'node:fs';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { OPENAPI_DOCUMENT } from '../../infra/routes';

interface Operation {
  responses: Record<string, { content?: Record<string, unknown> }>;
}
interface Document {
  paths: Record<string, Record<string, Operation>>;
}

const DOCUMENT_ID = 'openapi.json';
const pointer = (...parts: string[]) => parts.map((part) => part.replace(/~/g, '~0').replace(/\//g, '~1')).join('/');

/** A checker of answers against one OpenAPI document. */
export function contractChecker(document: Document) {
  // The document's schemas are JSON Schema 2020-12; its other keys are not, and are ignored.
  const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });
  ajv.addSchema(document as object, DOCUMENT_ID);
  const compiled = new Map<string, ValidateFunction>();
  const validator = (ref: string): ValidateFunction => {
    let validate = compiled.get(ref);
    if (!validate) {
      validate = ajv.compile({ $ref: `${DOCUMENT_ID}#/${ref}` });
      compiled.set(ref, validate);
    }
    return validate;
  };
  const templates = Object.keys(document.paths).map((template) => ({
    template,
    pattern: new RegExp(`^${template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^/}]+\}/g, '[^/]+')}$`),
  }));
  const routeOf = (path: string) => {
    const bare = path.split('?')[0] ?? path;
    return templates.find(({ template }) => template === bare) ?? templates.find(({ pattern }) => pattern.test(bare));
  };

  /** Why `body` is not what the document says `method path` answers with `status`; undefined when it is. */
  return function problem(method: string, path: string, answer: { status: number; body: unknown; headers: Headers }): string | undefined {
    const contentType = answer.headers.get('content-type') ?? '';
    if (method.toUpperCase() === 'OPTIONS') return undefined;
    const route = routeOf(path);
    const operation = route ? document.paths[route.template]?.[method.toLowerCase()] : undefined;
    if (contentType.startsWith('text/event-stream')) {
      // A stream's events are not one JSON body: only that the document offers a stream here is checked.
      if (route && operation?.responses[String(answer.status)]?.content?.['text/event-stream'] !== undefined) return undefined;
      return `${method} ${route?.template ?? path} documents no event stream answering ${answer.status}`;
    }
    let ref: string;
    if (!route || !operation) {
      ref = pointer('components', 'schemas', 'Error');
    } else {
      const status = String(answer.status);
      const response =
        operation.responses[status] !== undefined ? status : operation.responses.default !== undefined ? 'default' : undefined;
      if (response === undefined) return `${method} ${route.template} documents no ${status} answer`;
      if (operation.responses[response]?.content === undefined) {
        return answer.body === null
          ? undefined
          : `${method} ${route.template} ${status} documents no body, got ${JSON.stringify(answer.body)}`;
      }
      ref = pointer('paths', route.template, method.toLowerCase(), 'responses', response, 'content', 'application/json', 'schema');
    }
    const validate = validator(ref);
    if (validate(answer.body)) return undefined;
    const where = route ? `${method} ${route.template} ${answer.status}` : `${method} ${path} (no such route) ${answer.status}`;
    return `${where} does not match the OpenAPI document: ${ajv.errorsText(validate.errors)}; body ${JSON.stringify(answer.body).slice(0, 2000)}`;
  };
}

let committed: ReturnType<typeof contractChecker> | undefined;

/** The checker of the committed document, read once. */
export function committedContract(): ReturnType<typeof contractChecker> {
  committed ??= contractChecker(JSON.parse(readFileSync(new URL(`../../${OPENAPI_DOCUMENT}`, import.meta.url), 'utf8')) as Document);
  return committed;
}
