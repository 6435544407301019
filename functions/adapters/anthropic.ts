import Anthropic from '@anthropic-ai/sdk';
import { UpstreamError } from '../core/errors';
import type { ContentBlock, ModelResponse } from '../core/domain';
import type { ChatModel, ModelCallOptions, ModelRequest, ModelTextPart } from '../core/ports';

/**
 * {@link ChatModel} over `@anthropic-ai/sdk`, with prompt caching on tools, system and history. The
 * SDK never retries (the chat core retries only while its deadline allows); `timeoutMs` is a
 * backstop, the caller's signal is what bounds a call.
 */
export class AnthropicChatModel implements ChatModel {
  private readonly client: Anthropic;

  constructor(
    options: { apiKey: string; baseURL?: string; timeoutMs: number },
    private readonly model: string,
    private readonly maxTokens: number,
  ) {
    this.client = new Anthropic({ apiKey: options.apiKey, baseURL: options.baseURL, maxRetries: 0, timeout: options.timeoutMs });
  }

  async complete(request: ModelRequest, options: ModelCallOptions = {}): Promise<ModelResponse> {
    try {
      return responseOf(await this.client.messages.create(this.body(request), { signal: options.signal }));
    } catch (error) {
      throw translate(error);
    }
  }

  async stream(request: ModelRequest, options: ModelCallOptions & { onText: (part: ModelTextPart) => void }): Promise<ModelResponse> {
    try {
      const stream = this.client.messages.stream(this.body(request), { signal: options.signal });
      stream.on('streamEvent', (event) => {
        if (event.type === 'content_block_start' && event.content_block.type === 'text') {
          options.onText({ kind: 'text_start' });
          if (event.content_block.text !== '') options.onText({ kind: 'text_delta', text: event.content_block.text });
        } else if (event.type === 'content_block_delta' && event.delta.type === 'text_delta') {
          options.onText({ kind: 'text_delta', text: event.delta.text });
        }
      });
      return responseOf(await stream.finalMessage());
    } catch (error) {
      throw translate(error);
    }
  }

  private body(request: ModelRequest): Anthropic.MessageCreateParamsNonStreaming {
    const tools = request.tools.map((tool, index) => ({
      name: tool.name,
      description: tool.description,
      input_schema: tool.input_schema as Anthropic.Tool.InputSchema,
      // The tool list is the longest stable prefix: cache through its last entry.
      ...(index === request.tools.length - 1 ? { cache_control: { type: 'ephemeral' as const } } : {}),
    }));
    const messages = request.messages.map((message, index) => {
      const content = message.content.map((block) => ({ ...block }));
      if (index === request.messages.length - 1 && content.length > 0) {
        // Cache the history up to here, so the next call of this run reads it back.
        const lastBlock = content[content.length - 1]!;
        content[content.length - 1] = { ...lastBlock, cache_control: { type: 'ephemeral' } };
      }
      return { role: message.role, content } as Anthropic.MessageParam;
    });
    return {
      model: this.model,
      max_tokens: this.maxTokens,
      system: [{ type: 'text', text: request.system, cache_control: { type: 'ephemeral' } }],
      tools,
      messages,
    };
  }
}

function responseOf(response: Anthropic.Message): ModelResponse {
  return {
    content: response.content as unknown as ContentBlock[],
    stopReason: response.stop_reason ?? 'end_turn',
    usage: {
      inputTokens: response.usage.input_tokens,
      outputTokens: response.usage.output_tokens,
      cacheCreationInputTokens: response.usage.cache_creation_input_tokens ?? 0,
      cacheReadInputTokens: response.usage.cache_read_input_tokens ?? 0,
    },
  };
}

/** Anthropic failures → the contract's upstream errors (the run's state is kept; retrying is safe). */
function translate(error: unknown): UpstreamError {
  if (error instanceof Anthropic.APIConnectionTimeoutError) {
    return new UpstreamError('timeout', 'anthropic', 'Claude did not answer in time. Retrying is safe.');
  }
  if (error instanceof Anthropic.APIConnectionError) {
    return new UpstreamError('unavailable', 'anthropic', 'Claude could not be reached. Retrying is safe.');
  }
  if (error instanceof Anthropic.APIError) {
    const status = error.status ?? 0;
    if (status === 529 || status === 503 || status === 429) {
      return new UpstreamError('unavailable', 'anthropic', 'Claude is overloaded or rate limited right now. Retrying is safe.');
    }
    if (status === 504 || status === 408) {
      return new UpstreamError('timeout', 'anthropic', 'Claude did not answer in time. Retrying is safe.');
    }
  }
  return new UpstreamError('failed', 'anthropic', 'Claude failed to answer. Retrying is safe.');
}
