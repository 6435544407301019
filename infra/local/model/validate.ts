/**
 * Validation of a Messages API request body, as strict as the real API on the points a product
 * bug would trip: field presence and types, unknown fields, empty text, `tool_use`/`tool_result`
 * pairing, cache breakpoints and tool definitions. Errors carry the API's message style
 * (`<path>: <problem>`); the server wraps them in `invalid_request_error`.
 */

export class InvalidRequestError extends Error {}

export interface CacheControl {
  type: 'ephemeral';
  ttl: '5m' | '1h';
}

/** A content block as sent (validated); `cache_control` is read through `cacheControlOf`. */
export interface Block {
  type: string;
  [key: string]: unknown;
}

export interface ChatMessage {
  role: 'user' | 'assistant';
  content: Block[];
}

export interface ToolDefinition {
  name: string;
  /** Present on custom tools; server tools (`web_search_20250305`, …) have none. */
  input_schema?: Record<string, unknown>;
  raw: Record<string, unknown>;
}

export interface MessagesRequest {
  model: string;
  maxTokens: number;
  stream: boolean;
  system: Block[];
  tools: ToolDefinition[];
  /** Every message in order, system-role ones included, normalised to block arrays (for caching). */
  messages: Array<{ role: 'user' | 'assistant' | 'system'; content: Block[] }>;
  /** The user/assistant conversation after merging consecutive turns of the same role. */
  conversation: ChatMessage[];
  toolChoice: { type: 'auto' | 'any' | 'tool' | 'none'; name?: string; disableParallelToolUse: boolean };
  stopSequences: string[];
  /** Top-level `cache_control`: applies to the last cacheable block. */
  cacheControl: CacheControl | undefined;
}

const TOP_LEVEL_KEYS = new Set([
  'model',
  'max_tokens',
  'messages',
  'system',
  'tools',
  'tool_choice',
  'stream',
  'stop_sequences',
  'metadata',
  'temperature',
  'top_p',
  'top_k',
  'thinking',
  'cache_control',
  'container',
  'diagnostics',
  'inference_geo',
  'output_config',
  'service_tier',
  'speed',
  'context_management',
  'mcp_servers',
]);

const MAX_OUTPUT_TOKENS = 128_000;
const MAX_CACHE_BREAKPOINTS = 4;
const TOOL_NAME = /^[a-zA-Z0-9_-]{1,64}$/;
const TOOL_USE_ID = /^[a-zA-Z0-9_-]+$/;
const SERVER_TOOL_TYPE = /^[a-z_]+_\d{8}$/;

const TEXT_KEYS = new Set(['type', 'text', 'cache_control', 'citations']);
const TOOL_USE_KEYS = new Set(['type', 'id', 'name', 'input', 'cache_control', 'caller', 'toolset_name']);
const TOOL_RESULT_KEYS = new Set(['type', 'tool_use_id', 'content', 'is_error', 'cache_control', 'toolset_name']);
const CUSTOM_TOOL_KEYS = new Set([
  'type',
  'name',
  'description',
  'input_schema',
  'cache_control',
  'strict',
  'defer_loading',
  'eager_input_streaming',
  'input_examples',
  'allowed_callers',
]);

/** Other block types the API accepts in messages; the stand-in carries them without looking inside. */
const OTHER_BLOCK_TYPES = new Set([
  'image',
  'document',
  'search_result',
  'thinking',
  'redacted_thinking',
  'server_tool_use',
  'web_search_tool_result',
  'web_fetch_tool_result',
  'code_execution_tool_result',
  'bash_code_execution_tool_result',
  'text_editor_code_execution_tool_result',
  'tool_search_tool_result',
  'container_upload',
]);
const TOOL_RESULT_CONTENT_TYPES = new Set(['text', 'image', 'document', 'search_result', 'tool_reference']);

/** Parses and validates a `POST /v1/messages` body, or throws `InvalidRequestError`. */
export function parseMessagesRequest(body: unknown): MessagesRequest {
  if (!isRecord(body)) fail('Input should be a valid dictionary or object to extract fields from');
  for (const key of Object.keys(body)) {
    if (!TOP_LEVEL_KEYS.has(key)) fail(`${key}: Extra inputs are not permitted`);
  }

  const model = body.model;
  if (model === undefined) fail('model: Field required');
  if (typeof model !== 'string') fail('model: Input should be a valid string');
  if (model.trim() === '') fail('model: String should have at least 1 character');

  const maxTokens = body.max_tokens;
  if (maxTokens === undefined) fail('max_tokens: Field required');
  if (typeof maxTokens !== 'number' || !Number.isInteger(maxTokens)) fail('max_tokens: Input should be a valid integer');
  if (maxTokens < 0) fail('max_tokens: Input should be greater than or equal to 0');
  if (maxTokens > MAX_OUTPUT_TOKENS) {
    fail(`max_tokens: ${maxTokens} > ${MAX_OUTPUT_TOKENS}, which is the maximum allowed number of output tokens for ${model}`);
  }

  const stream = body.stream ?? false;
  if (typeof stream !== 'boolean') fail('stream: Input should be a valid boolean');

  checkSampling(body);
  const stopSequences = parseStopSequences(body.stop_sequences);
  const system = parseSystem(body.system);
  const tools = parseTools(body.tools);
  const toolChoice = parseToolChoice(body.tool_choice, tools);
  const cacheControl = body.cache_control == null ? undefined : parseCacheControl(body.cache_control, 'cache_control');

  const messages = parseMessages(body.messages);
  const conversation = mergeTurns(messages);
  checkConversation(conversation, tools);
  checkCacheBreakpoints(system, tools, messages, cacheControl);

  return {
    model,
    maxTokens,
    stream,
    system,
    tools,
    messages,
    conversation,
    toolChoice,
    stopSequences,
    cacheControl,
  };
}

/** The `cache_control` of a block or tool, if any (already validated). */
export function cacheControlOf(value: Record<string, unknown>): CacheControl | undefined {
  const cc = value.cache_control;
  if (!isRecord(cc)) return undefined;
  return { type: 'ephemeral', ttl: cc.ttl === '1h' ? '1h' : '5m' };
}

function checkSampling(body: Record<string, unknown>): void {
  for (const key of ['temperature', 'top_p'] as const) {
    const value = body[key];
    if (value === undefined) continue;
    if (typeof value !== 'number' || Number.isNaN(value)) fail(`${key}: Input should be a valid number`);
    if (value < 0 || value > 1) fail(`${key}: Input should be less than or equal to 1 and greater than or equal to 0`);
  }
  if (body.top_k !== undefined && (typeof body.top_k !== 'number' || !Number.isInteger(body.top_k) || body.top_k < 0)) {
    fail('top_k: Input should be a valid integer greater than or equal to 0');
  }
  if (body.metadata !== undefined) {
    if (!isRecord(body.metadata)) fail('metadata: Input should be a valid dictionary');
    for (const key of Object.keys(body.metadata)) {
      if (key !== 'user_id') fail(`metadata.${key}: Extra inputs are not permitted`);
    }
    const userId = body.metadata.user_id;
    if (userId != null && typeof userId !== 'string') fail('metadata.user_id: Input should be a valid string');
  }
  if (body.thinking !== undefined) {
    const thinking = body.thinking;
    if (!isRecord(thinking) || !['enabled', 'disabled', 'adaptive'].includes(String(thinking.type))) {
      fail("thinking: Input tag does not match any of the expected tags: 'enabled', 'disabled', 'adaptive'");
    }
    if (thinking.type === 'enabled') {
      const budget = thinking.budget_tokens;
      if (typeof budget !== 'number' || !Number.isInteger(budget) || budget < 1024) {
        fail('thinking.enabled.budget_tokens: Input should be greater than or equal to 1024');
      }
    }
  }
}

function parseStopSequences(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) fail('stop_sequences: Input should be a valid list');
  return value.map((item, i) => {
    if (typeof item !== 'string') fail(`stop_sequences.${i}: Input should be a valid string`);
    if (item.trim() === '') fail('stop_sequences: each stop sequence must contain non-whitespace');
    return item;
  });
}

function parseSystem(value: unknown): Block[] {
  if (value === undefined || value === null) return [];
  if (typeof value === 'string') return value === '' ? [] : [{ type: 'text', text: value }];
  if (!Array.isArray(value)) fail('system: Input should be a valid string or a valid list');
  return value.map((block, i) => {
    const path = `system.${i}`;
    if (!isRecord(block)) fail(`${path}: Input should be a valid dictionary`);
    if (block.type !== 'text') fail(`${path}.type: Input should be 'text'`);
    return checkTextBlock(block, path, 'system');
  });
}

function parseTools(value: unknown): ToolDefinition[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) fail('tools: Input should be a valid list');
  const tools = value.map((tool, i): ToolDefinition => {
    const path = `tools.${i}`;
    if (!isRecord(tool)) fail(`${path}: Input should be a valid dictionary`);
    const type = tool.type;
    if (typeof type === 'string' && type !== 'custom') {
      if (!SERVER_TOOL_TYPE.test(type)) {
        fail(`${path}: Input tag '${type}' found using 'type' does not match any of the expected tags`);
      }
      if (typeof tool.name !== 'string' || tool.name === '') fail(`${path}.${type}.name: Field required`);
      if (tool.cache_control != null) parseCacheControl(tool.cache_control, `${path}.${type}.cache_control`);
      return { name: tool.name, raw: tool };
    }
    if (type !== undefined && type !== null && type !== 'custom') fail(`${path}.type: Input should be 'custom'`);
    const custom = `${path}.custom`;
    for (const key of Object.keys(tool)) {
      if (!CUSTOM_TOOL_KEYS.has(key)) fail(`${custom}.${key}: Extra inputs are not permitted`);
    }
    const name = tool.name;
    if (name === undefined) fail(`${custom}.name: Field required`);
    if (typeof name !== 'string') fail(`${custom}.name: Input should be a valid string`);
    if (!TOOL_NAME.test(name)) fail(`${custom}.name: String should match pattern '^[a-zA-Z0-9_-]{1,64}$'`);
    if (tool.description !== undefined && typeof tool.description !== 'string') {
      fail(`${custom}.description: Input should be a valid string`);
    }
    const schema = tool.input_schema;
    if (schema === undefined) fail(`${custom}.input_schema: Field required`);
    if (!isRecord(schema)) fail(`${custom}.input_schema: Input should be a valid dictionary`);
    if (schema.type !== 'object') fail(`${custom}.input_schema.type: Input should be 'object'`);
    if (schema.properties !== undefined && schema.properties !== null && !isRecord(schema.properties)) {
      fail(`${custom}.input_schema.properties: Input should be a valid dictionary`);
    }
    const required = schema.required;
    if (required !== undefined && !(Array.isArray(required) && required.every((r) => typeof r === 'string'))) {
      fail(`${custom}.input_schema.required: Input should be a valid list of strings`);
    }
    if (tool.cache_control != null) parseCacheControl(tool.cache_control, `${custom}.cache_control`);
    return { name, input_schema: schema, raw: tool };
  });
  const seen = new Set<string>();
  for (const tool of tools) {
    if (seen.has(tool.name)) fail('tools: Tool names must be unique.');
    seen.add(tool.name);
  }
  return tools;
}

function parseToolChoice(value: unknown, tools: readonly ToolDefinition[]): MessagesRequest['toolChoice'] {
  if (value === undefined || value === null) return { type: 'auto', disableParallelToolUse: false };
  if (!isRecord(value)) fail('tool_choice: Input should be a valid dictionary');
  const type = value.type;
  if (type !== 'auto' && type !== 'any' && type !== 'tool' && type !== 'none') {
    fail("tool_choice: Input tag does not match any of the expected tags: 'auto', 'any', 'tool', 'none'");
  }
  const disable = value.disable_parallel_tool_use ?? false;
  if (typeof disable !== 'boolean') fail(`tool_choice.${type}.disable_parallel_tool_use: Input should be a valid boolean`);
  if (type === 'tool') {
    if (typeof value.name !== 'string') fail('tool_choice.tool.name: Field required');
    const name = value.name;
    if (!tools.some((t) => t.name === name)) fail(`tool_choice: Tool '${name}' not found in the provided tools`);
    return { type, name, disableParallelToolUse: disable };
  }
  if (type === 'any' && tools.length === 0) fail('tool_choice: tool_choice.type "any" requires tools to be defined');
  return { type, disableParallelToolUse: disable };
}

function parseMessages(value: unknown): MessagesRequest['messages'] {
  if (value === undefined) fail('messages: Field required');
  if (!Array.isArray(value)) fail('messages: Input should be a valid list');
  if (value.length === 0) fail('messages: at least one message is required');
  const last = value.length - 1;
  return value.map((message, i) => {
    const path = `messages.${i}`;
    if (!isRecord(message)) fail(`${path}: Input should be a valid dictionary`);
    for (const key of Object.keys(message)) {
      if (key !== 'role' && key !== 'content') fail(`${path}.${key}: Extra inputs are not permitted`);
    }
    const role = message.role;
    if (role === undefined) fail(`${path}.role: Field required`);
    if (role !== 'user' && role !== 'assistant' && role !== 'system') {
      fail(`${path}.role: Input should be 'user', 'assistant' or 'system'`);
    }
    const mayBeEmpty = i === last && role === 'assistant';
    const content = message.content;
    if (content === undefined) fail(`${path}.content: Field required`);
    let blocks: Block[];
    if (typeof content === 'string') {
      if (content === '') {
        if (mayBeEmpty) return { role, content: [] };
        fail(`${path}: all messages must have non-empty content except for the optional final assistant message`);
      }
      blocks = [checkTextBlock({ type: 'text', text: content }, path, 'messages', !mayBeEmpty)];
    } else if (Array.isArray(content)) {
      blocks = content.map((block, j) => parseBlock(block, `${path}.content.${j}`, role));
    } else {
      fail(`${path}.content: Input should be a valid string or a valid list`);
    }
    if (blocks.length === 0 && !mayBeEmpty) {
      fail(`${path}: all messages must have non-empty content except for the optional final assistant message`);
    }
    if (role === 'system' && blocks.some((b) => b.type !== 'text')) {
      fail(`${path}.content: system messages may only contain text blocks`);
    }
    if (i === last && role === 'assistant') {
      const lastBlock = blocks.at(-1);
      if (lastBlock?.type === 'text' && typeof lastBlock.text === 'string' && /\s$/.test(lastBlock.text)) {
        fail('messages: final assistant content cannot end with trailing whitespace');
      }
    }
    return { role, content: blocks };
  });
}

function parseBlock(block: unknown, path: string, role: 'user' | 'assistant' | 'system'): Block {
  if (!isRecord(block)) fail(`${path}: Input should be a valid dictionary`);
  const type = block.type;
  if (typeof type !== 'string') fail(`${path}.type: Field required`);
  switch (type) {
    case 'text':
      return checkTextBlock(block, path, 'messages');
    case 'tool_use': {
      if (role !== 'assistant') fail(`${path}: \`tool_use\` blocks can only be in \`assistant\` messages`);
      onlyKeys(block, TOOL_USE_KEYS, `${path}.tool_use`);
      if (typeof block.id !== 'string') fail(`${path}.tool_use.id: Field required`);
      if (!TOOL_USE_ID.test(block.id)) fail(`${path}.tool_use.id: String should match pattern '^[a-zA-Z0-9_-]+$'`);
      if (typeof block.name !== 'string' || block.name === '') fail(`${path}.tool_use.name: Field required`);
      if (!isRecord(block.input)) fail(`${path}.tool_use.input: Input should be a valid dictionary`);
      if (block.cache_control != null) parseCacheControl(block.cache_control, `${path}.tool_use.cache_control`);
      return { ...block, type };
    }
    case 'tool_result': {
      if (role !== 'user') fail(`${path}: \`tool_result\` blocks can only be in \`user\` messages`);
      onlyKeys(block, TOOL_RESULT_KEYS, `${path}.tool_result`);
      if (typeof block.tool_use_id !== 'string') fail(`${path}.tool_result.tool_use_id: Field required`);
      if (!TOOL_USE_ID.test(block.tool_use_id)) {
        fail(`${path}.tool_result.tool_use_id: String should match pattern '^[a-zA-Z0-9_-]+$'`);
      }
      if (block.is_error !== undefined && typeof block.is_error !== 'boolean') {
        fail(`${path}.tool_result.is_error: Input should be a valid boolean`);
      }
      const content = block.content;
      if (content !== undefined && typeof content !== 'string') {
        if (!Array.isArray(content)) fail(`${path}.tool_result.content: Input should be a valid string or a valid list`);
        content.forEach((inner, k) => {
          const innerPath = `${path}.tool_result.content.${k}`;
          if (!isRecord(inner) || typeof inner.type !== 'string') fail(`${innerPath}.type: Field required`);
          if (!TOOL_RESULT_CONTENT_TYPES.has(inner.type)) {
            fail(`${innerPath}: Input tag '${inner.type}' found using 'type' does not match any of the expected tags`);
          }
          if (inner.type === 'text') checkTextBlock(inner, innerPath, 'messages');
          else if (inner.cache_control != null) parseCacheControl(inner.cache_control, `${innerPath}.cache_control`);
        });
      }
      if (block.cache_control != null) parseCacheControl(block.cache_control, `${path}.tool_result.cache_control`);
      return { ...block, type };
    }
    default:
      if (!OTHER_BLOCK_TYPES.has(type)) {
        fail(`${path}: Input tag '${type}' found using 'type' does not match any of the expected tags`);
      }
      if (block.cache_control != null) parseCacheControl(block.cache_control, `${path}.${type}.cache_control`);
      return { ...block, type };
  }
}

function checkTextBlock(block: Record<string, unknown>, path: string, field: string, checkEmpty = true): Block {
  onlyKeys(block, TEXT_KEYS, `${path}.text`);
  const text = block.text;
  if (text === undefined) fail(`${path}.text: Field required`);
  if (typeof text !== 'string') fail(`${path}.text: Input should be a valid string`);
  if (checkEmpty && text === '') fail(`${field}: text content blocks must be non-empty`);
  if (checkEmpty && text.trim() === '') fail(`${field}: text content blocks must contain non-whitespace text`);
  if (block.cache_control != null) parseCacheControl(block.cache_control, `${path}.text.cache_control`);
  return { ...block, type: 'text', text };
}

function parseCacheControl(value: unknown, path: string): CacheControl {
  if (!isRecord(value)) fail(`${path}: Input should be a valid dictionary`);
  if (value.type !== 'ephemeral') fail(`${path}.type: Input should be 'ephemeral'`);
  for (const key of Object.keys(value)) {
    if (key !== 'type' && key !== 'ttl') fail(`${path}.${key}: Extra inputs are not permitted`);
  }
  const ttl = value.ttl ?? '5m';
  if (ttl !== '5m' && ttl !== '1h') fail(`${path}.ttl: Input should be '5m' or '1h'`);
  return { type: 'ephemeral', ttl };
}

/** Consecutive turns of the same role are combined into one, as the API does. */
function mergeTurns(messages: MessagesRequest['messages']): ChatMessage[] {
  const merged: ChatMessage[] = [];
  for (const message of messages) {
    if (message.role === 'system') continue;
    const previous = merged.at(-1);
    if (previous && previous.role === message.role) previous.content.push(...message.content);
    else merged.push({ role: message.role, content: [...message.content] });
  }
  return merged;
}

function checkConversation(conversation: readonly ChatMessage[], tools: readonly ToolDefinition[]): void {
  const first = conversation[0];
  if (!first) fail('messages: at least one message is required');
  if (first.role !== 'user') fail('messages: first message must use the "user" role');

  const usesTools = conversation.some((m) => m.content.some((b) => b.type === 'tool_use' || b.type === 'tool_result'));
  if (usesTools && tools.length === 0) {
    fail('messages: Requests which include `tool_use` or `tool_result` blocks must define tools.');
  }

  const seenToolUseIds = new Set<string>();
  conversation.forEach((message, i) => {
    if (message.role === 'assistant') {
      const ids = message.content.flatMap((b) => (b.type === 'tool_use' && typeof b.id === 'string' ? [b.id] : []));
      for (const id of ids) {
        if (seenToolUseIds.has(id)) fail(`messages.${i}: \`tool_use\` ids must be unique`);
        seenToolUseIds.add(id);
      }
      const next = conversation[i + 1];
      if (ids.length === 0 || !next) return;
      // The results must open the next user message: text before them breaks the pairing.
      const answered = new Set<string>();
      for (const block of next.content) {
        if (block.type !== 'tool_result') break;
        if (typeof block.tool_use_id === 'string') answered.add(block.tool_use_id);
      }
      const unanswered = ids.filter((id) => !answered.has(id));
      if (unanswered.length > 0) {
        fail(
          `messages.${i + 1}: \`tool_use\` ids were found without \`tool_result\` blocks immediately after: ${unanswered.join(', ')}. ` +
            'Each `tool_use` block must have a corresponding `tool_result` block in the next message.',
        );
      }
      return;
    }
    const previous = conversation[i - 1];
    const offered = new Set(
      previous?.role === 'assistant'
        ? previous.content.flatMap((b) => (b.type === 'tool_use' && typeof b.id === 'string' ? [b.id] : []))
        : [],
    );
    const answered = new Set<string>();
    message.content.forEach((block, j) => {
      if (block.type !== 'tool_result' || typeof block.tool_use_id !== 'string') return;
      if (!offered.has(block.tool_use_id)) {
        fail(
          `messages.${i}.content.${j}: unexpected \`tool_use_id\` found in \`tool_result\` blocks: ${block.tool_use_id}. ` +
            'Each `tool_result` block must have a corresponding `tool_use` block in the previous message.',
        );
      }
      if (answered.has(block.tool_use_id)) {
        fail(`messages.${i}.content.${j}: each \`tool_use\` id may have only one \`tool_result\`: ${block.tool_use_id}`);
      }
      answered.add(block.tool_use_id);
    });
  });
}

function checkCacheBreakpoints(
  system: readonly Block[],
  tools: readonly ToolDefinition[],
  messages: MessagesRequest['messages'],
  topLevel: CacheControl | undefined,
): void {
  const marks: CacheControl[] = [];
  const visit = (value: Record<string, unknown>) => {
    const cc = cacheControlOf(value);
    if (cc) marks.push(cc);
  };
  for (const t of tools) visit(t.raw);
  system.forEach(visit);
  for (const message of messages) {
    for (const block of message.content) {
      visit(block);
      if (block.type === 'tool_result' && Array.isArray(block.content)) {
        for (const inner of block.content) if (isRecord(inner)) visit(inner);
      }
    }
  }
  const total = marks.length + (topLevel ? 1 : 0);
  if (total > MAX_CACHE_BREAKPOINTS) {
    fail(`A maximum of ${MAX_CACHE_BREAKPOINTS} blocks with cache_control may be provided. Found ${total}.`);
  }
  // Longer-lived entries must come first: a 1h breakpoint cannot follow a 5m one.
  const firstShort = marks.findIndex((m) => m.ttl === '5m');
  if (firstShort >= 0 && marks.slice(firstShort).some((m) => m.ttl === '1h')) {
    fail("cache_control: a ttl='1h' cache_control block must not come after a ttl='5m' cache_control block");
  }
}

function onlyKeys(block: Record<string, unknown>, allowed: ReadonlySet<string>, path: string): void {
  for (const key of Object.keys(block)) {
    if (!allowed.has(key)) fail(`${path}.${key}: Extra inputs are not permitted`);
  }
}

function fail(message: string): never {
  throw new InvalidRequestError(message);
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
