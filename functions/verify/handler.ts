import '../validation';
import { deps } from './deps';
import { assertKnownConnection, verify } from '../core/connections';
import { verifyBody } from '../http/contract';
import { httpHandler } from '../http/handler';
import { parseBody, pathParam } from '../http/request';
import { json } from '../http/response';

/** The `verify` function: `POST /connections/{connection}/verify`. */
export const handler = httpHandler({
  'POST /connections/{connection}/verify': async (event, caller) => {
    const use = await deps();
    const connection = pathParam(event, 'connection');
    assertKnownConnection(use.settings, connection);
    const body = parseBody(event, verifyBody);
    const result = await verify(use, caller.sub, connection, body, caller.accessToken);
    return json(200, { connection: result.connection, status: result.status, account: result.account });
  },
});
