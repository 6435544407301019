/**
 * The OpenAPI 3.1 document of the HTTP API, built from the zod schemas the functions validate
 * with (`functions/http/contract.ts`) and the route table. `npm run openapi` writes it to
 * `docs/openapi.json`; the gateways serve that committed file at `GET /openapi.json`, and a test
 * fails when it is stale.
 *
 * To add a route: add it to `infra/routes.ts`, its schemas to the contract, and its entry to
 * `operations` below (a test checks that both lists name the same routes), then run
 * `npm run openapi`.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as z from 'zod/mini';
import { createDocument, type ZodOpenApiOperationObject, type ZodOpenApiResponseObject, type ZodOpenApiResponsesObject } from 'zod-openapi';
import {
  approvalBody,
  connectBody,
  connectionList,
  connectResult,
  conversationPage,
  conversationView,
  errorBody,
  listQuery,
  messageBody,
  resumeBody,
  runOutcome,
  usageView,
  verifyBody,
  verifyResult,
} from '../functions/http/contract';
import { OPENAPI_DOCUMENT, openRoutes, routes, USER_SCOPE } from './routes';

/** Where the document is committed (the file `GET /openapi.json` serves). */
export const OPENAPI_FILE = fileURLToPath(new URL(`../${OPENAPI_DOCUMENT}`, import.meta.url));

const SECURITY_SCHEME = 'cognitoAccessToken';

const json = (description: string, schema: z.ZodMiniType): ZodOpenApiResponseObject => ({
  description,
  content: { 'application/json': { schema } },
});

const body = (schema: z.ZodMiniType, required = true) => ({ required, content: { 'application/json': { schema } } });

/** Every error answers this shape; its status is the code's (see the error table in docs/api.md). */
const anyError = json("An error of the contract (the status is its code's: 400, 401, 403, 404, 409, 413, 429, 5xx).", errorBody);

const connectionParam = {
  path: z.object({ connection: z.string().register(z.globalRegistry, { description: 'A configured connection, e.g. `asana`.' }) }),
};
const conversationParam = { path: z.object({ id: z.string().register(z.globalRegistry, { description: 'A conversation id (`c_…`).' }) }) };

/** A run answered as Server-Sent Events (`Accept: text/event-stream`): its events, in the order sent. */
const eventStream = {
  'text/event-stream': {
    schema: z.string().register(z.globalRegistry, {
      description: [
        'Events, each `event: <name>` and one `data: <JSON>` line, then a blank line; `: keep-alive` comments at least every 15 s.',
        '`run` `{ conversationId }` first, before any model call;',
        '`text` `{ delta }` as Claude writes;',
        '`text_reset` `{}`: drop the text since the last `tool_call` or `text_reset`;',
        '`tool_call` `{ toolUseId, name, input }` before a call runs, is refused or waits for approval;',
        '`tool_result` `{ toolUseId, name, outcome, durationMs }` when it ended;',
        '`outcome`: the JSON body of the same run answered without streaming, last, exactly once;',
        '`error` `{ error: { code, message }, conversationId }`: a failure after the stream started, last.',
      ].join(' '),
    }),
  },
};

/**
 * A run route's answers: its outcome as JSON with `status`, or (with `Accept: text/event-stream`)
 * a `200` stream of events, also for a new conversation.
 */
const runResponses = (status: '200' | '201'): ZodOpenApiResponsesObject => {
  const streamed = 'with `Accept: text/event-stream`, the run as Server-Sent Events, whose `outcome` event carries the same body';
  if (status === '201') {
    return {
      '201': json("The outcome of the new conversation's run (streamed, the answer is `200`).", runOutcome),
      '200': { description: `Streamed: ${streamed}.`, content: eventStream },
      default: anyError,
    };
  }
  return {
    '200': { description: `The outcome of the run; ${streamed}.`, content: { 'application/json': { schema: runOutcome }, ...eventStream } },
    default: anyError,
  };
};

/** What each route of `infra/routes.ts` takes and answers, by `METHOD path`. */
export const operations: Record<string, ZodOpenApiOperationObject> = {
  'GET /connections': {
    operationId: 'listConnections',
    summary: "The caller's connections, every configured one listed, connected or not",
    responses: { '200': json('Every configured connection.', connectionList), default: anyError },
  },
  'POST /connections/{connection}': {
    operationId: 'connect',
    summary: 'Connects the caller’s account: the account when ACTIVE, else its status and a fresh authorization link',
    requestParams: connectionParam,
    requestBody: body(connectBody, false),
    responses: { '200': json('The account, or a fresh authorization link.', connectResult), default: anyError },
  },
  'DELETE /connections/{connection}': {
    operationId: 'disconnect',
    summary: "Revokes the caller's connected account; repeating it is harmless",
    requestParams: connectionParam,
    responses: { '204': { description: 'Disconnected.' }, default: anyError },
  },
  'POST /connections/{connection}/verify': {
    operationId: 'verifyConnection',
    summary: 'Completes a consent this caller started',
    requestParams: connectionParam,
    requestBody: body(verifyBody),
    responses: { '200': json('The connection is ACTIVE.', verifyResult), default: anyError },
  },
  'POST /conversations': {
    operationId: 'startConversation',
    summary: 'Starts a conversation with a first message and runs it',
    requestBody: body(messageBody),
    responses: runResponses('201'),
  },
  'GET /conversations': {
    operationId: 'listConversations',
    summary: "The caller's conversations, newest first",
    requestParams: { query: listQuery },
    responses: { '200': json('One page of conversations.', conversationPage), default: anyError },
  },
  'GET /conversations/{id}': {
    operationId: 'getConversation',
    summary: 'A conversation with every message and tool call, oldest first',
    requestParams: conversationParam,
    responses: { '200': json('The conversation.', conversationView), default: anyError },
  },
  'DELETE /conversations/{id}': {
    operationId: 'deleteConversation',
    summary: 'Deletes a conversation, its messages and records',
    requestParams: conversationParam,
    responses: { '204': { description: 'Deleted.' }, default: anyError },
  },
  'POST /conversations/{id}/messages': {
    operationId: 'postMessage',
    summary: 'Adds a message to a conversation and runs it',
    requestParams: conversationParam,
    requestBody: body(messageBody),
    responses: runResponses('200'),
  },
  'POST /conversations/{id}/resume': {
    operationId: 'resumeConversation',
    summary: 'Continues a run that stopped in progress or for authorization',
    requestParams: conversationParam,
    requestBody: body(resumeBody, false),
    responses: runResponses('200'),
  },
  'POST /conversations/{id}/approvals': {
    operationId: 'decideApproval',
    summary: 'Approves or denies one pending tool call',
    requestParams: conversationParam,
    requestBody: body(approvalBody),
    responses: runResponses('200'),
  },
  'GET /usage': {
    operationId: 'getUsage',
    summary: "The caller's requests and model tokens of the current UTC day, and the per-user limits",
    responses: { '200': json("Today's usage.", usageView), default: anyError },
  },
  'GET /openapi.json': {
    operationId: 'openApiDocument',
    summary: 'This document (no token)',
    security: [],
    responses: { '200': { description: 'The OpenAPI document.', content: { 'application/json': { schema: { type: 'object' } } } } },
  },
};

/** The document, from the route table and `operations`. */
export function openApiDocument() {
  const paths: Record<string, Record<string, ZodOpenApiOperationObject>> = {};
  for (const route of [...routes, ...openRoutes]) {
    const key = `${route.method} ${route.path}`;
    const operation = operations[key];
    if (!operation) throw new Error(`infra/openapi.ts describes no operation for ${key}`);
    paths[route.path] = { ...paths[route.path], [route.method.toLowerCase()]: operation };
  }
  return createDocument({
    openapi: '3.1.0',
    info: {
      title: 'onbehalf',
      version: '1',
      description:
        'Claude acting in Asana only as the person asking. Every route but this document needs a Cognito access token. ' +
        'Request bodies are strict (unknown keys are refused); every error has the `Error` shape.',
    },
    security: [{ [SECURITY_SCHEME]: [] }],
    components: {
      // The bodies, by name: wherever one appears, the document refers to it by this name.
      schemas: {
        Error: errorBody,
        ConnectRequest: connectBody,
        VerifyRequest: verifyBody,
        MessageRequest: messageBody,
        ResumeRequest: resumeBody,
        ApprovalRequest: approvalBody,
        ConnectionList: connectionList,
        ConnectResult: connectResult,
        VerifyResult: verifyResult,
        RunOutcome: runOutcome,
        ConversationPage: conversationPage,
        Conversation: conversationView,
      },
      securitySchemes: {
        [SECURITY_SCHEME]: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description: `A Cognito access token of one of the deployment's app clients, with the scope \`${USER_SCOPE}\`.`,
        },
      },
    },
    paths,
  });
}

/** The document as committed: stable key order, two-space indent, a final newline. */
export const openApiJson = (): string => `${JSON.stringify(openApiDocument(), null, 2)}\n`;

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  writeFileSync(OPENAPI_FILE, openApiJson());
  console.log(`wrote ${OPENAPI_FILE}`);
}
