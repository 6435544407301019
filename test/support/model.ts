import Anthropic from '@anthropic-ai/sdk';
import { type ModelStandIn, startModel } from '../../infra/local/model/server';

/** A Claude stand-in of the test file's own, and the real SDK pointed at it (no retries). */
export async function startModelWithClient(): Promise<{ model: ModelStandIn; client: Anthropic }> {
  const model = await startModel({ port: 0 });
  return { model, client: new Anthropic({ baseURL: model.url, apiKey: 'test', maxRetries: 0 }) };
}
