import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { RUN_METRICS, TOKEN_METRICS, TOOL_CALL_METRICS } from '../../functions/metric-names';
import type { LocalService } from '../../infra/local/service';
import { api } from '../support/auth';
import { chatGateway } from '../support/chat-gateway';
import { connected } from '../support/connect';
import { marker, script, textTurn, toolTurn } from '../support/standins';

// The chat function's metrics as CloudWatch would read them: the embedded-metric-format lines
// Powertools writes on stdout, from a chat handler of this file's own (metrics on here only).

interface Emf {
  readonly _aws: { CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string; Unit: string }[] }[] };
  readonly service: string;
  readonly [metric: string]: unknown;
}

const world = inject('world');
let user: string;
let gateway: LocalService;
let deadline: LocalService;
let written = '';

beforeAll(async () => {
  process.env.POWERTOOLS_METRICS_DISABLED = 'false';
  const write = process.stdout.write.bind(process.stdout);
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array, ...rest: unknown[]) => {
    written += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    return (write as (...args: unknown[]) => boolean)(chunk, ...rest);
  });
  user = await connected('tilly');
  gateway = await chatGateway();
  // A budget too short for a second model call: the run stops by its deadline.
  deadline = await chatGateway({ settings: { timeBudgetMs: 1 } });
});
afterAll(async () => {
  vi.restoreAllMocks();
  process.env.POWERTOOLS_METRICS_DISABLED = 'true';
  await Promise.all([gateway?.close(), deadline?.close()]);
});

/** The EMF lines written while `act` ran. */
async function emfDuring(act: () => Promise<unknown>): Promise<Emf[]> {
  const from = written.length;
  await act();
  return written
    .slice(from)
    .split('\n')
    .filter((line) => line.includes('"_aws"'))
    .map((line) => JSON.parse(line) as Emf);
}

const names = (emf: Emf) => emf._aws.CloudWatchMetrics.flatMap((set) => set.Metrics.map((metric) => metric.Name)).sort();
const values = (value: unknown): number[] => (Array.isArray(value) ? value : [value]) as number[];

describe('chat metrics', () => {
  it('writes one line per run request: runs by status, tool calls by outcome, tokens and latencies, in the namespace and service the stack charts', async () => {
    // Prepare
    const tag = marker('metrics');
    const task = world.tasks[0]!;
    const tokens = (input: number, output: number, creation: number, read: number) => ({
      usage: { input_tokens: input, output_tokens: output, cache_creation_input_tokens: creation, cache_read_input_tokens: read },
    });
    await script(tag, [
      { ...toolTurn({ name: 'asana_task_get', input: { task_gid: task.gid } }), ...tokens(111, 11, 5, 0) },
      { ...textTurn('Here it is.'), ...tokens(222, 22, 0, 7) },
    ]);
    let run: Awaited<ReturnType<typeof api>> | undefined;

    // Act
    const lines = await emfDuring(async () => {
      run = await api('POST', '/conversations', { token: user, body: { message: `Show me the task ${tag}` }, apiUrl: gateway.url });
    });

    // Assess
    expect(run?.status).toBe(201);
    expect(run?.body.status).toBe('completed');
    const outcome = run?.body.toolCalls[0].outcome as keyof typeof TOOL_CALL_METRICS;
    expect(lines).toHaveLength(1);
    const emf = lines[0]!;
    expect(emf.service).toBe('chat');
    expect(emf._aws.CloudWatchMetrics).toEqual([expect.objectContaining({ Namespace: 'onbehalf', Dimensions: [['service']] })]);
    expect(names(emf)).toEqual(
      [
        RUN_METRICS.completed,
        TOOL_CALL_METRICS[outcome],
        ...Object.values(TOKEN_METRICS),
        'ModelLatency',
        ...(outcome === 'denied' ? [] : ['ToolLatency']),
      ].sort(),
    );
    expect(emf[RUN_METRICS.completed]).toBe(1);
    expect(emf[TOOL_CALL_METRICS[outcome]]).toBe(1);
    expect(values(emf[TOKEN_METRICS.inputTokens])).toEqual([111, 222]);
    expect(values(emf[TOKEN_METRICS.outputTokens])).toEqual([11, 22]);
    expect(values(emf[TOKEN_METRICS.cacheCreationInputTokens])).toEqual([5, 0]);
    expect(values(emf[TOKEN_METRICS.cacheReadInputTokens])).toEqual([0, 7]);
    expect(values(emf.ModelLatency)).toEqual([expect.any(Number), expect.any(Number)]);
    for (const metric of emf._aws.CloudWatchMetrics[0]!.Metrics) {
      expect(metric.Unit, metric.Name).toBe(metric.Name.endsWith('Latency') ? 'Milliseconds' : 'Count');
    }
  });

  it('writes each of two runs served side by side on its own line, with only its own figures', async () => {
    // Prepare: two conversations whose answers report different token counts
    const [first, second] = [marker('side-a'), marker('side-b')];
    const answer = (input: number) => ({
      ...textTurn('Done.'),
      usage: { input_tokens: input, output_tokens: 1, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
    });
    await script(first, [answer(1_001)]);
    await script(second, [answer(2_002)]);

    // Act
    const lines = await emfDuring(() =>
      Promise.all(
        [first, second].map((tag) =>
          api('POST', '/conversations', { token: user, body: { message: `Hello ${tag}` }, apiUrl: gateway.url }),
        ),
      ),
    );

    // Assess
    expect(lines).toHaveLength(2);
    expect(lines.map((emf) => values(emf[TOKEN_METRICS.inputTokens])).sort()).toEqual([[1_001], [2_002]]);
    for (const emf of lines) expect(emf[RUN_METRICS.completed]).toBe(1);
  });

  it('counts a run stopped by its deadline under the name the deadline alarm watches', async () => {
    // Prepare
    const tag = marker('deadline');
    const task = world.tasks[0]!;
    const again = toolTurn({ name: 'asana_task_get', input: { task_gid: task.gid } });
    await script(tag, [again, again, again, textTurn('Never reached.')]);
    let run: Awaited<ReturnType<typeof api>> | undefined;

    // Act
    const lines = await emfDuring(async () => {
      run = await api('POST', '/conversations', { token: user, body: { message: `Keep reading ${tag}` }, apiUrl: deadline.url });
    });

    // Assess
    expect(run?.body.status).toBe('in_progress');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ service: 'chat', [RUN_METRICS.inProgress]: 1, [RUN_METRICS.stoppedByDeadline]: 1 });
    expect(names(lines[0]!)).not.toContain(RUN_METRICS.completed);
  });

  it('writes the line of a streamed run too, once the run has ended', async () => {
    // Prepare
    const tag = marker('streamed');
    await script(tag, [textTurn('Streamed answer.')]);
    let text = '';

    // Act
    const lines = await emfDuring(async () => {
      const response = await fetch(`${gateway.url}/conversations`, {
        method: 'POST',
        headers: { accept: 'text/event-stream', 'content-type': 'application/json', authorization: `Bearer ${user}` },
        body: JSON.stringify({ message: `Say something ${tag}` }),
      });
      text = await response.text();
    });

    // Assess
    expect(text).toContain('event: outcome');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ service: 'chat', [RUN_METRICS.completed]: 1 });
    expect(names(lines[0]!)).not.toContain(TOOL_CALL_METRICS.succeeded);
  });

  it('writes nothing for a request that runs nothing', async () => {
    // Act
    const lines = await emfDuring(() => api('GET', '/conversations?limit=1', { token: user, apiUrl: gateway.url }));

    // Assess
    expect(lines).toEqual([]);
  });
});
