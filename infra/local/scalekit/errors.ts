import { Code, ConnectError } from '@connectrpc/connect';
import { ErrorInfoSchema } from '@scalekit-sdk/node/lib/pkg/grpc/scalekit/v1/errdetails/errdetails_pb.js';
import type { FieldViolation } from './tool-catalog';

/**
 * gRPC errors shaped as Scalekit answers them: a code the SDK maps to its exception classes and an
 * `ErrorInfo` detail whose `errorCode` the SDK exposes as `e.errorCode`.
 */
export function scalekitError(code: Code, errorCode: string, message: string): ConnectError {
  return new ConnectError(message, code, undefined, [{ desc: ErrorInfoSchema, value: { errorCode } }]);
}

export const notFound = (message: string): ConnectError => scalekitError(Code.NotFound, 'NOT_FOUND', message);

export const invalidArgument = (message: string): ConnectError => scalekitError(Code.InvalidArgument, 'INVALID_ARGUMENT', message);

/** Input that does not match a tool's schema: `InvalidArgument` with one field violation per problem. */
export function invalidToolInput(toolName: string, violations: FieldViolation[]): ConnectError {
  return new ConnectError(
    `invalid input for ${toolName}: ${violations.map((v) => v.description).join('; ')}`,
    Code.InvalidArgument,
    undefined,
    [
      {
        desc: ErrorInfoSchema,
        value: {
          errorCode: 'INVALID_TOOL_INPUT',
          validationErrorInfo: {
            fieldViolations: violations.map((v) => ({ field: v.field, description: v.description, constraint: 'schema' })),
          },
        },
      },
    ],
  );
}

/** gRPC code for an upstream HTTP status, as Scalekit reports a provider's refusal. */
export function codeForProviderStatus(status: number): Code {
  if (status === 400 || status === 422) return Code.InvalidArgument;
  if (status === 401) return Code.Unauthenticated;
  if (status === 403) return Code.PermissionDenied;
  if (status === 404) return Code.NotFound;
  if (status === 409) return Code.AlreadyExists;
  if (status === 429) return Code.ResourceExhausted;
  if (status === 503) return Code.Unavailable;
  if (status === 504) return Code.DeadlineExceeded;
  return Code.Internal;
}

/**
 * A failure of the tool at the provider: `errorCode: "TOOL_ERROR"` with a `ToolErrorInfo`, which the
 * SDK turns into `ScalekitTool{Unauthorized,Forbidden,RateLimit,}Exception` (`isToolException(e)`),
 * never retried and never answered by refreshing the SDK's own token.
 */
export function toolError(options: { code: Code; message: string; executionId: string; toolErrorCode: string }): ConnectError {
  return new ConnectError(options.message, options.code, undefined, [
    {
      desc: ErrorInfoSchema,
      value: {
        errorCode: 'TOOL_ERROR',
        toolErrorInfo: {
          executionId: options.executionId,
          toolErrorMessage: options.message,
          toolErrorCode: options.toolErrorCode,
        },
      },
    },
  ]);
}
