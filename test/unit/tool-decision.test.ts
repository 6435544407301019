import { describe, expect, it } from 'vitest';
import { decideToolCall, type ToolCallFacts, type ToolDecisionKind } from '../../functions/core/chat/tool-decision';
import type { ToolRecord } from '../../functions/core/domain';

const HASH = 'hash-of-the-input';

const record = (fields: Partial<ToolRecord> = {}): ToolRecord => ({
  toolUseId: 'toolu_1',
  name: 'asana_tasks_create',
  input: { name: 'x' },
  inputHash: HASH,
  actor: 'sub-1',
  connection: 'asana',
  ...fields,
});

const approved = (inputHash = HASH) =>
  record({ decision: { decision: 'approve', by: 'sub-1', at: '2026-01-01T00:00:00.000Z', inputHash } });
const declined = () => record({ decision: { decision: 'deny', by: 'sub-1', at: '2026-01-01T00:00:00.000Z', inputHash: HASH } });

const facts = (fields: Partial<ToolCallFacts>): ToolCallFacts => ({
  record: undefined,
  policy: 'allow',
  available: true,
  inputHash: HASH,
  inputProblems: [],
  ...fields,
});

const cases: [string, Partial<ToolCallFacts>, ToolDecisionKind][] = [
  ['a new call of an allowed tool runs', {}, { kind: 'execute' }],
  [
    'a finished call replays its stored result, whatever the policy says now',
    { record: record({ outcome: 'succeeded', result: '{"gid":"1"}', startedAt: 't' }), policy: 'deny' },
    { kind: 'replay', result: '{"gid":"1"}', isError: false },
  ],
  [
    'a finished failed call replays as an error',
    { record: record({ outcome: 'failed', result: 'The tool failed: 403', isError: true }) },
    { kind: 'replay', result: 'The tool failed: 403', isError: true },
  ],
  ['a started, unfinished call is interrupted and never runs again', { record: record({ startedAt: 't' }) }, { kind: 'interrupted' }],
  [
    'an interrupted call stays interrupted even when the tool is gone',
    { record: record({ startedAt: 't' }), available: false },
    { kind: 'interrupted' },
  ],
  ['a denied tool is denied', { policy: 'deny' }, { kind: 'denied' }],
  ['a denied tool is denied before its availability matters', { policy: 'deny', available: false }, { kind: 'denied' }],
  ['a tool no connection offers is refused', { available: false }, { kind: 'refused' }],
  [
    'a call whose input breaks the schema is invalid',
    { inputProblems: ['input.x is required'] },
    { kind: 'invalid', problems: ['input.x is required'] },
  ],
  [
    'an invalid call is never proposed for approval',
    { policy: 'confirm', inputProblems: ['input.x is required'] },
    { kind: 'invalid', problems: ['input.x is required'] },
  ],
  [
    'an approved call whose input breaks the schema still does not run',
    { policy: 'confirm', record: approved(), inputProblems: ['input.x is required'] },
    { kind: 'invalid', problems: ['input.x is required'] },
  ],
  ['a denied tool is denied whatever its input', { policy: 'deny', inputProblems: ['input.x is required'] }, { kind: 'denied' }],
  ['a confirm tool without a record awaits approval and is proposed', { policy: 'confirm' }, { kind: 'await_approval', propose: true }],
  [
    'a confirm tool already proposed awaits approval without proposing again',
    { policy: 'confirm', record: record() },
    { kind: 'await_approval', propose: false },
  ],
  ['a confirm tool the user declined is denied', { policy: 'confirm', record: declined() }, { kind: 'denied' }],
  ['a confirm tool the user approved runs', { policy: 'confirm', record: approved() }, { kind: 'execute' }],
  [
    'an approval of another input does not count',
    { policy: 'confirm', record: approved('hash-of-another-input') },
    { kind: 'await_approval', propose: false },
  ],
  ['an allowed tool ignores a stale decision record', { record: declined() }, { kind: 'execute' }],
];

describe('the per-tool decision', () => {
  it.each(cases)('%s', (_name, given, expected) => {
    expect(decideToolCall(facts(given))).toEqual(expected);
  });
});
