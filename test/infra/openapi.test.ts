import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { OPENAPI_FILE, openApiDocument, openApiJson, operations } from '../../infra/openapi';
import { openRoutes, routes } from '../../infra/routes';
import { contractChecker } from '../stack/openapi';

const document = openApiDocument() as unknown as {
  openapi: string;
  security: unknown[];
  paths: Record<string, Record<string, { security?: unknown[]; requestBody?: { content: Record<string, { schema: unknown }> } }>>;
  components: { schemas: Record<string, { additionalProperties?: unknown }> };
};
const json = (body: unknown) => ({ status: 200, body, headers: new Headers({ 'content-type': 'application/json' }) });

describe('the OpenAPI document', () => {
  it('is committed as generated: run `npm run openapi` after changing a schema or a route', () => {
    expect(readFileSync(OPENAPI_FILE, 'utf8')).toBe(openApiJson());
  });

  it('describes every route of the route table, and nothing else', () => {
    // Prepare
    const table = [...routes, ...openRoutes].map((route) => `${route.method} ${route.path}`).sort();
    const documented = Object.entries(document.paths).flatMap(([path, item]) => Object.keys(item).map((m) => `${m.toUpperCase()} ${path}`));
    // Assess
    expect(document.openapi).toBe('3.1.0');
    expect(Object.keys(operations).sort()).toEqual(table);
    expect(documented.sort()).toEqual(table);
  });

  it('asks for a token on every route but the document itself', () => {
    expect(document.security).toEqual([{ cognitoAccessToken: [] }]);
    expect(document.paths['/openapi.json']?.get?.security).toEqual([]);
    for (const route of routes) expect(document.paths[route.path]?.[route.method.toLowerCase()]?.security).toBeUndefined();
  });

  it('documents request bodies as strict, as the functions validate them', () => {
    const bodies = Object.values(document.paths).flatMap((item) =>
      Object.values(item).flatMap((operation) => Object.values(operation.requestBody?.content ?? {}).map((media) => media.schema)),
    );
    expect(bodies.length).toBeGreaterThan(0);
    for (const schema of bodies) {
      const ref = (schema as { $ref?: string }).$ref ?? '';
      const name = ref.replace('#/components/schemas/', '');
      expect(document.components.schemas[name]?.additionalProperties, ref).toBe(false);
    }
  });
});

describe('the answer checker of the e2e helper', () => {
  const problem = contractChecker(document as never);

  it('accepts an answer of the documented shape, and the error shape for any documented error status', () => {
    expect(problem('GET', '/conversations?limit=5', json({ conversations: [], nextToken: null }))).toBeUndefined();
    expect(
      problem('GET', '/conversations/c_x', {
        ...json({ error: { code: 'not_found', message: 'No such conversation.', details: [] } }),
        status: 404,
      }),
    ).toBeUndefined();
    expect(problem('DELETE', '/conversations/c_x', { status: 204, body: null, headers: new Headers() })).toBeUndefined();
  });

  it('names what is wrong: a missing field, an undocumented field, an unknown code, a body where none is documented', () => {
    expect(problem('GET', '/conversations', json({ conversations: [] }))).toMatch(/GET \/conversations 200 .*nextToken/);
    expect(problem('GET', '/conversations', json({ conversations: [], nextToken: null, extra: 1 }))).toMatch(/additional/);
    expect(problem('GET', '/nowhere', { ...json({ error: { code: 'teapot', message: 'x', details: [] } }), status: 404 })).toMatch(
      /no such route/,
    );
    expect(problem('DELETE', '/connections/asana', { status: 204, body: { ok: true }, headers: new Headers() })).toMatch(/no body/);
  });

  it('takes a stream only where the document offers one, and leaves CORS preflights alone', () => {
    const stream = { status: 200, body: 'event: run\ndata: {}\n\n', headers: new Headers({ 'content-type': 'text/event-stream' }) };
    expect(problem('POST', '/conversations', stream)).toBeUndefined();
    expect(problem('POST', '/conversations/c_x/messages', stream)).toBeUndefined();
    expect(problem('GET', '/conversations', stream)).toMatch(/GET \/conversations documents no event stream answering 200/);
    expect(problem('POST', '/conversations', { ...stream, status: 201 })).toMatch(/no event stream answering 201/);
    expect(problem('OPTIONS', '/conversations', { status: 204, body: null, headers: new Headers() })).toBeUndefined();
  });
});
