import '../validation';
import { deps } from './deps';
import { assertKnownConnection, connect, disconnect, listConnections } from '../core/connections';
import { connectBody } from '../http/contract';
import { httpHandler } from '../http/handler';
import { parseBody, pathParam } from '../http/request';
import { json, noContent } from '../http/response';

/** The `connect` function: `GET /connections`, `POST` and `DELETE /connections/{connection}`. */
export const handler = httpHandler({
  'GET /connections': async (_event, caller) => {
    const connections = await listConnections(await deps(), caller.sub);
    return json(200, { connections });
  },
  'POST /connections/{connection}': async (event, caller) => {
    const use = await deps();
    const connection = pathParam(event, 'connection');
    assertKnownConnection(use.settings, connection);
    const body = parseBody(event, connectBody);
    return json(200, await connect(use, caller.sub, connection, body.verifyUrl));
  },
  'DELETE /connections/{connection}': async (event, caller) => {
    await disconnect(await deps(), caller.sub, pathParam(event, 'connection'));
    return noContent();
  },
});
