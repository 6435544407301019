import { inject } from 'vitest';
import type { ChatSettings } from '../../functions/core/chat';
import type { CrashPoint, Faults } from '../../functions/core/faults';
import type { UsageLimits } from '../../functions/core/usage';
import { startGateway } from '../../infra/local/gateway';
import type { LocalService } from '../../infra/local/service';

/**
 * A fault that crashes the run at `point` (the first time it is reached, or the `nth`): from then
 * on every checkpoint throws too, as a dead process would do nothing more — the lease is not
 * released and nothing else is written.
 */
export function crashAt(point: CrashPoint, nth = 1): Faults & { crashed: boolean } {
  let seen = 0;
  const fault = {
    crashed: false,
    checkpoint(reached: CrashPoint) {
      if (fault.crashed) throw new Error(`crashed earlier; ${reached} never happens`);
      if (reached === point && ++seen === nth) {
        fault.crashed = true;
        throw new Error(`injected crash at ${point}`);
      }
    },
  };
  return fault;
}

/**
 * A gateway of the test's own in front of a fresh instance of the chat handler (other budgets,
 * policy or faults), against the suite's table and stand-ins, as another Lambda container would be.
 */
export async function chatGateway(
  options: { settings?: Partial<ChatSettings>; faults?: Faults; limits?: Partial<UsageLimits> } = {},
): Promise<LocalService> {
  const stack = inject('stack');
  Object.assign(process.env, inject('functionEnv'));
  const { createChatHandler } = await import('../../functions/chat/handler');
  return startGateway({
    port: 0,
    issuer: `${stack.cognito.endpoint}/${stack.cognito.userPoolId}`,
    handlers: { chat: createChatHandler(options) },
  });
}
