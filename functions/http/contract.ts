/**
 * The HTTP contract's bodies as zod/mini schemas: what the functions validate requests with, and
 * what they answer. `infra/openapi.ts` builds the OpenAPI document (`docs/openapi.json`) from
 * these same schemas (and names them there), so the document cannot drift from the validation.
 * Only descriptions are registered here: no ids, so loading this module twice in one process
 * (tests, the local stack) never collides in zod's global registry.
 */
import * as z from 'zod/mini';
import '../validation';
import { ERROR_CODES } from './response';

/** A message over 16 KiB of UTF-8 is refused with 413 (checked by the chat function before the schema's other rules). */
export const MAX_MESSAGE_BYTES = 16 * 1024;

// ─── Requests ───────────────────────────────────────────────────────────────────────────────

/** Where the browser lands after consent; checked against the deployment's allowlist. */
const verifyUrl = z.optional(
  z.string().check(z.maxLength(2048)).register(z.globalRegistry, {
    description: "Where the browser lands after consent: the deployment's console URL, or a loopback URL of a native client.",
  }),
);

const message = z
  .string()
  .check(
    z.refine((text: string) => Buffer.byteLength(text, 'utf8') <= MAX_MESSAGE_BYTES, { message: 'too_large' }),
    z.refine((text: string) => text.trim().length > 0, { message: 'must hold at least one non-whitespace character' }),
  )
  .register(z.globalRegistry, {
    description: 'At least one non-whitespace character, at most 16 KiB of UTF-8 (a longer one is refused with 413).',
  });

/** `POST /conversations`, `POST /conversations/{id}/messages`. */
export const messageBody = z.strictObject({ message, verifyUrl });
/** `POST /conversations/{id}/resume` (no body is `{}`). */
export const resumeBody = z.strictObject({ verifyUrl });
/** `POST /conversations/{id}/approvals`. */
export const approvalBody = z.strictObject({
  toolUseId: z.string().check(z.minLength(1), z.maxLength(256)),
  decision: z.enum(['approve', 'deny']),
  verifyUrl,
});
/** `GET /conversations` query; unknown parameters are ignored. */
export const listQuery = z.object({
  limit: z._default(z.coerce.number().check(z.int(), z.gte(1), z.lte(100)), 20),
  nextToken: z.optional(z.string().check(z.minLength(1), z.maxLength(512))),
});
/** `POST /connections/{connection}` (no body is `{}`). */
export const connectBody = z.strictObject({ verifyUrl });
/** `POST /connections/{connection}/verify`: the parameters of the consent landing. */
export const verifyBody = z.strictObject({
  authRequestId: z.string().check(z.minLength(1), z.maxLength(1024)),
  state: z.string().check(z.minLength(1), z.maxLength(1024)),
});

// ─── Responses ──────────────────────────────────────────────────────────────────────────────

const isoTime = z.string().register(z.globalRegistry, { description: 'ISO 8601 time (UTC)' });

const connectionStatus = z.enum(['ACTIVE', 'PENDING_AUTH', 'PENDING_VERIFICATION', 'EXPIRED', 'DISCONNECTED', 'NOT_CONNECTED']);

/** The upstream account a connection acts as, pinned at verify. */
const account = z.object({ name: z.string(), email: z.string(), gid: z.string() });

/** `GET /connections`: every configured connection, connected or not. */
export const connectionList = z.object({
  connections: z.array(
    z.object({ connection: z.string(), status: connectionStatus, account: z.nullable(account), checkedAt: z.nullable(isoTime) }),
  ),
});

/** `POST /connections/{connection}`: the account, or its real status with a fresh link. */
export const connectResult = z.union([
  z.object({ connection: z.string(), status: z.literal('ACTIVE'), account: z.nullable(account) }),
  z.object({
    connection: z.string(),
    status: z.enum(['PENDING_AUTH', 'PENDING_VERIFICATION', 'EXPIRED', 'DISCONNECTED']),
    authorizationUrl: z.string(),
    expiresAt: isoTime,
  }),
]);

/** `POST /connections/{connection}/verify`. */
export const verifyResult = z.object({ connection: z.string(), status: z.literal('ACTIVE'), account: z.nullable(account) });

const runStatus = z.enum(['completed', 'in_progress', 'awaiting_approval', 'needs_authorization']);
const toolInput = z.record(z.string(), z.unknown());

const toolCall = z.object({
  toolUseId: z.string(),
  name: z.string(),
  input: toolInput,
  outcome: z.enum(['succeeded', 'failed', 'denied', 'unknown']),
  durationMs: z.number().check(z.gte(0)),
});

const pendingApproval = z.object({ toolUseId: z.string(), name: z.string(), input: toolInput });

/** The four run routes' answer (also the streamed `outcome` event's data). */
export const runOutcome = z.object({
  conversationId: z.string(),
  status: runStatus,
  reply: z.nullable(z.string()),
  toolCalls: z.array(toolCall),
  pendingApprovals: z.array(pendingApproval),
  authorizationUrl: z.nullable(z.string()),
  truncated: z.optional(z.literal(true)),
});

const usage = z.object({
  inputTokens: z.number(),
  outputTokens: z.number(),
  cacheCreationInputTokens: z.number(),
  cacheReadInputTokens: z.number(),
});

const conversationHeader = {
  conversationId: z.string(),
  status: runStatus,
  title: z.string(),
  createdAt: isoTime,
  updatedAt: isoTime,
};

/** `GET /conversations`: the caller's conversations, newest first. */
export const conversationPage = z.object({
  conversations: z.array(z.object(conversationHeader)),
  nextToken: z.nullable(z.string()),
});

/** A Messages API content block as stored (`text`, `tool_use`, `tool_result`, or any other Claude sent). */
const contentBlock = z.looseObject({ type: z.string() });

/** `GET /conversations/{id}`. */
export const conversationView = z.object({
  ...conversationHeader,
  messages: z.array(z.object({ role: z.enum(['user', 'assistant']), content: z.array(contentBlock) })),
  toolCalls: z.array(toolCall),
  pendingApprovals: z.array(pendingApproval),
  usage,
});

/** Every error, from a function or from the gateway. */
export const errorBody = z.object({
  error: z.object({
    code: z.enum(ERROR_CODES),
    message: z.string(),
    details: z.array(z.unknown()),
  }),
  /** A run that failed after its conversation was created names it, so the client can resume. */
  conversationId: z.optional(z.string()),
});

/** `GET /usage`: the caller's own figures for the current UTC day, and the limits they count against. */
export const usageView = z.object({
  day: z.string(),
  requests: z.number(),
  tokens: usage,
  limits: z.object({ requestsPerMinute: z.number(), dailyTokens: z.number() }),
});
