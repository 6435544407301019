import { z } from 'zod';

/**
 * The shapes of `docs/api.md` the CLI reads. Objects are loose: a newer API may add fields, and
 * `--json` prints what the API sent, not what these schemas keep.
 */

export const errorBodySchema = z.looseObject({
  error: z.looseObject({
    code: z.string(),
    message: z.string(),
    details: z.array(z.unknown()).optional(),
  }),
  conversationId: z.string().optional(),
});

export const runStatusSchema = z.enum(['completed', 'in_progress', 'awaiting_approval', 'needs_authorization']);
export type RunStatus = z.infer<typeof runStatusSchema>;

const toolInput = z.record(z.string(), z.unknown());

export const pendingApprovalSchema = z.looseObject({ toolUseId: z.string(), name: z.string(), input: toolInput });
export type PendingApproval = z.infer<typeof pendingApprovalSchema>;

export const toolCallSchema = z.looseObject({
  toolUseId: z.string(),
  name: z.string(),
  input: toolInput,
  outcome: z.string(),
  durationMs: z.number().nullable(),
});

/** What each of the four run routes answers. */
export const runOutcomeSchema = z.looseObject({
  conversationId: z.string(),
  status: runStatusSchema,
  reply: z.string().nullable(),
  toolCalls: z.array(toolCallSchema),
  pendingApprovals: z.array(pendingApprovalSchema),
  authorizationUrl: z.string().nullable(),
  truncated: z.literal(true).optional(),
});
export type RunOutcome = z.infer<typeof runOutcomeSchema>;

/** The progress events of a streamed run (`outcome` is {@link runOutcomeSchema}, `error` {@link errorBodySchema}). */
export const textEventSchema = z.looseObject({ delta: z.string() });
export const toolCallEventSchema = z.looseObject({ toolUseId: z.string(), name: z.string() });
export const toolResultEventSchema = z.looseObject({ toolUseId: z.string(), name: z.string(), outcome: z.string() });

/** `GET /conversations/{id}`: only what the CLI needs to pick up a pending run. */
export const conversationSchema = z.looseObject({
  conversationId: z.string(),
  status: runStatusSchema,
  pendingApprovals: z.array(pendingApprovalSchema),
});

export const accountSchema = z.looseObject({ name: z.string(), email: z.string(), gid: z.string() });
export type Account = z.infer<typeof accountSchema>;

export const connectionStatusSchema = z.enum([
  'ACTIVE',
  'PENDING_AUTH',
  'PENDING_VERIFICATION',
  'EXPIRED',
  'DISCONNECTED',
  'NOT_CONNECTED',
]);

export const connectionListSchema = z.looseObject({
  connections: z.array(
    z.looseObject({
      connection: z.string(),
      status: connectionStatusSchema,
      account: accountSchema.nullable(),
      checkedAt: z.string().nullable(),
    }),
  ),
});

/** `POST /connections/{connection}`: ACTIVE with the pinned account, or a fresh link. */
export const connectResultSchema = z.looseObject({
  connection: z.string(),
  status: connectionStatusSchema,
  account: accountSchema.nullable().optional(),
  authorizationUrl: z.string().optional(),
  expiresAt: z.string().optional(),
});

/** `POST /connections/{connection}/verify`. */
export const verifyResultSchema = z.looseObject({
  connection: z.string(),
  status: connectionStatusSchema,
  account: accountSchema.nullable(),
});

/** The local stack's `.onbehalf/stack.json` (only what the CLI uses). */
export const stackFactsSchema = z.looseObject({
  apiUrl: z.url(),
  cognito: z.looseObject({ endpoint: z.url(), userPoolId: z.string(), clientId: z.string(), region: z.string() }),
  users: z.array(z.looseObject({ username: z.string(), password: z.string(), email: z.string() })),
});
export type StackFile = z.infer<typeof stackFactsSchema>;
