import { Code, ConnectError, type Interceptor } from '@connectrpc/connect';
import { ConnectedAccountService } from '@scalekit-sdk/node/lib/pkg/grpc/scalekit/v1/connected_accounts/connected_accounts_pb.js';
import { ToolService } from '@scalekit-sdk/node/lib/pkg/grpc/scalekit/v1/tools/tools_pb.js';
import type { ScalekitStore } from './store';

/** Every RPC name the emulator serves (`ExecuteTool`, `VerifyConnectedAccountUser`, …). */
export const RPC_NAMES: readonly string[] = [...ConnectedAccountService.methods, ...ToolService.methods].map((method) => method.name);

/** gRPC status names as `_control/*` speaks them: `UNAVAILABLE`, `DEADLINE_EXCEEDED`, … (`OK` for success). */
const codeName = (code: Code): string => (Code[code] ?? 'Unknown').replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase();

/** Every failing gRPC code by its name, as a fault may answer it. */
export const FAULT_CODES: ReadonlyMap<string, Code> = new Map(
  Object.values(Code)
    .filter((value): value is Code => typeof value === 'number')
    .map((code) => [codeName(code), code]),
);

/** One RPC as `GET /_control/rpcs` reports it. */
export interface RpcRecord {
  seq: number;
  rpc: string;
  /** The identifier the request named, or the one of the account it named by id; null when neither. */
  identifier: string | null;
  /** `OK`, or the gRPC status name it was answered with. */
  code: string;
}

/** A scripted failure of one RPC (`POST /_control/faults`). */
export interface Fault {
  rpc: string;
  code: string;
  times: number;
  /** The RPC really runs first (its effects happen), then the fault is answered, as when a response is lost. */
  afterExecuting: boolean;
}

/**
 * The test-only fault injection and RPC log of the emulator. `log` wraps every RPC, the token check
 * included (so a request the SDK sent without a token shows as `UNAUTHENTICATED`); `faults` runs
 * after the token check, so only authenticated calls consume a fault. Both live in memory only.
 */
export class RpcControl {
  private readonly records: RpcRecord[] = [];
  private readonly faults = new Map<string, Fault>();

  constructor(private readonly store: ScalekitStore) {}

  setFault(fault: Fault): Fault {
    if (fault.times > 0) this.faults.set(fault.rpc, { ...fault });
    else this.faults.delete(fault.rpc);
    return fault;
  }

  rpcsSince(since: number): RpcRecord[] {
    return this.records.filter((record) => record.seq > since);
  }

  readonly log: Interceptor = (next) => async (request) => {
    const record: RpcRecord = {
      seq: this.records.length + 1,
      rpc: request.method.name,
      identifier: this.identifierOf(request.message),
      code: 'OK',
    };
    this.records.push(record);
    try {
      return await next(request);
    } catch (error) {
      record.code = codeName(ConnectError.from(error).code);
      throw error;
    }
  };

  readonly inject: Interceptor = (next) => async (request) => {
    const fault = this.faults.get(request.method.name);
    if (!fault) return next(request);
    fault.times -= 1;
    if (fault.times <= 0) this.faults.delete(fault.rpc);
    const code = FAULT_CODES.get(fault.code) ?? Code.Unavailable;
    if (fault.afterExecuting) {
      // Its effects happen; only the answer is lost.
      await next(request).catch(() => undefined);
    }
    throw new ConnectError(`injected fault: ${fault.code}`, code);
  };

  private identifierOf(message: unknown): string | null {
    const fields = (message ?? {}) as { identifier?: unknown; connectedAccountId?: unknown; id?: unknown };
    if (typeof fields.identifier === 'string' && fields.identifier !== '') return fields.identifier;
    const id = typeof fields.connectedAccountId === 'string' && fields.connectedAccountId ? fields.connectedAccountId : fields.id;
    if (typeof id === 'string' && id !== '') return this.store.accountById(id)?.identifier ?? null;
    return null;
  }
}
