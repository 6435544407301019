import { readFileSync } from 'node:fs';
import { describe, expect, inject, it } from 'vitest';
import { OPENAPI_FILE } from '../../infra/openapi';
import { api, login } from '../support/auth';

describe('GET /openapi.json', () => {
  it('answers the committed document without a token', async () => {
    // Act
    const response = await fetch(`${inject('stack').apiUrl}/openapi.json`);
    // Assess
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await response.text()).toBe(readFileSync(OPENAPI_FILE, 'utf8'));
  });

  it('answers the same with a token, and 404 in the error shape for another method', async () => {
    // Prepare
    const { accessToken } = await login('alice');
    // Act
    const withToken = await api('GET', '/openapi.json', { token: accessToken });
    const post = await api('POST', '/openapi.json', { body: {} });
    // Assess
    expect(withToken.status).toBe(200);
    expect(withToken.body).toEqual(JSON.parse(readFileSync(OPENAPI_FILE, 'utf8')));
    expect(post.status).toBe(404);
    expect(post.body.error.code).toBe('not_found');
  });
});
