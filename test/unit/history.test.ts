import { describe, expect, it } from 'vitest';
import { inputHash } from '../../functions/core/chat';
import { estimateTokens, fitWindow, intactHistory, opensExchange, replyOf } from '../../functions/core/history';
import type { ContentBlock, Message, StoredMessage } from '../../functions/core/domain';
import { expectPaired } from '../fakes';

let seq = 0;
const stored = (role: Message['role'], content: ContentBlock[], tokens = 10): StoredMessage => {
  const message: Message = { role, content };
  return { seq: seq++, role, content, startsExchange: opensExchange(message), tokens };
};
const userText = (text: string, tokens = 10) => stored('user', [{ type: 'text', text }], tokens);
const assistantText = (text: string, tokens = 10) => stored('assistant', [{ type: 'text', text }], tokens);
const assistantTools = (ids: string[], tokens = 10) =>
  stored(
    'assistant',
    ids.map((id) => ({ type: 'tool_use', id, name: 'asana_tasks_list', input: {} })),
    tokens,
  );
const toolResults = (ids: string[], tokens = 10) =>
  stored(
    'user',
    ids.map((id) => ({ type: 'tool_result', tool_use_id: id, content: '[]' })),
    tokens,
  );

/** Three exchanges; the middle one uses tools twice. 10 tokens a message. */
function conversation(): StoredMessage[] {
  seq = 0;
  return [
    userText('first question'), // 0
    assistantText('first answer'), // 1
    userText('second question'), // 2
    assistantTools(['t1', 't2']), // 3
    toolResults(['t1', 't2']), // 4
    assistantTools(['t3']), // 5
    toolResults(['t3']), // 6
    assistantText('second answer'), // 7
    userText('third question'), // 8
    assistantText('third answer'), // 9
  ];
}

describe('fitWindow', () => {
  it('keeps the whole history when it fits', () => {
    // Prepare
    const history = conversation();

    // Act
    const window = fitWindow(history, 1_000);

    // Assess
    expect(window.map((message) => message.seq)).toEqual(history.map((message) => message.seq));
  });

  describe.each([
    { budget: 99, firstSeq: 2, why: 'the oldest exchange does not fit' },
    { budget: 80, firstSeq: 2, why: 'the two newest exchanges fit exactly' },
    { budget: 79, firstSeq: 8, why: 'only the newest exchange fits' },
    { budget: 20, firstSeq: 8, why: 'the newest exchange fits exactly' },
    { budget: 5, firstSeq: 8, why: 'even the newest exchange is over budget, and is kept' },
    { budget: 0, firstSeq: 8, why: 'a zero budget still keeps the newest exchange' },
  ])('with a budget of $budget tokens ($why)', ({ budget, firstSeq }) => {
    it('drops the oldest whole exchanges and starts at a user message that opens an exchange', () => {
      // Prepare
      const history = conversation();

      // Act
      const window = fitWindow(history, budget);

      // Assess
      expect(window[0]?.seq).toBe(firstSeq);
      expect(window[0]?.startsExchange).toBe(true);
      expect(window[0]?.content.some((block) => block.type === 'tool_result')).toBe(false);
      expect(window.at(-1)?.seq).toBe(9);
      expect(window.map((message) => message.seq)).toEqual(history.slice(firstSeq).map((message) => message.seq));
      expectPaired(window);
    });
  });

  it('never cuts between a tool_use and its tool_result, whatever the budget', () => {
    // Prepare
    const history = conversation();

    // Act
    const windows = Array.from({ length: 120 }, (_, budget) => fitWindow(history, budget));

    // Assess
    for (const window of windows) {
      expect(window[0]?.startsExchange).toBe(true);
      expectPaired(window);
    }
  });

  it('keeps the newest exchange whole even when it is a long tool loop over budget', () => {
    // Prepare
    seq = 0;
    const history = [
      userText('old'),
      assistantText('old answer'),
      userText('new'),
      assistantTools(['a'], 500),
      toolResults(['a'], 500),
      assistantTools(['b'], 500),
      toolResults(['b'], 500),
    ];

    // Act
    const window = fitWindow(history, 100);

    // Assess
    expect(window.map((message) => message.seq)).toEqual([2, 3, 4, 5, 6]);
    expectPaired(window);
  });

  it('starts at an exchange even when the input begins mid-exchange', () => {
    // Prepare: a store page that begins with the tail of an older exchange
    seq = 0;
    const history = [toolResults(['x']), assistantText('x done'), userText('next'), assistantText('answer')];

    // Act
    const window = fitWindow(history, 10_000);

    // Assess
    expect(window.map((message) => message.seq)).toEqual([2, 3]);
  });
});

describe('intactHistory', () => {
  const seqs = (messages: readonly StoredMessage[]) => messages.map((message) => message.seq);
  const without = (history: StoredMessage[], ...gone: number[]) => history.filter((message) => !gone.includes(message.seq));

  it.each([
    { gone: [], firstSeq: 0, why: 'nothing expired' },
    { gone: [0, 1], firstSeq: 2, why: 'the oldest exchange expired whole' },
    { gone: [0, 1, 2], firstSeq: 8, why: "an exchange's opening message expired before its tool use and results" },
    { gone: [5], firstSeq: 8, why: 'a message inside an exchange was deleted first' },
    { gone: [0], firstSeq: 2, why: 'only the first message is gone' },
    { gone: [8], firstSeq: 10, why: 'the newest opening message is gone: nothing is left' },
  ])('keeps the whole exchanges after the last gap when $why', ({ gone, firstSeq }) => {
    // Prepare
    const history = conversation();

    // Act
    const intact = intactHistory(without(history, ...gone));

    // Assess
    expect(seqs(intact)).toEqual(seqs(history).filter((n) => n >= firstSeq));
    if (intact.length > 0) expectPaired(intact);
  });
});

describe('opensExchange and replyOf', () => {
  it('treats a user message carrying tool results as part of the running exchange', () => {
    // Prepare
    const results: Message = {
      role: 'user',
      content: [
        { type: 'tool_result', tool_use_id: 't', content: 'ok' },
        { type: 'text', text: 'and?' },
      ],
    };
    const words: Message = { role: 'user', content: [{ type: 'text', text: 'hello' }] };
    const answer: Message = { role: 'assistant', content: [{ type: 'text', text: 'hi' }] };

    // Act
    const opens = [results, words, answer].map(opensExchange);

    // Assess
    expect(opens).toEqual([false, true, false]);
  });

  it('joins the text blocks of an answer and leaves out the rest', () => {
    // Prepare
    const answer: Message = {
      role: 'assistant',
      content: [
        { type: 'text', text: 'Here are your tasks:' },
        { type: 'tool_use', id: 't', name: 'asana_tasks_list', input: {} },
        { type: 'thinking', thinking: 'secret' },
        { type: 'text', text: '- Ship it' },
      ],
    };

    // Act
    const reply = replyOf(answer);

    // Assess
    expect(reply).toBe('Here are your tasks:\n\n- Ship it');
    expect(replyOf(undefined)).toBe('');
  });

  it('estimates more tokens for more content', () => {
    // Prepare
    const short: ContentBlock[] = [{ type: 'text', text: 'hi' }];
    const long: ContentBlock[] = [{ type: 'text', text: 'hi'.repeat(1000) }];

    // Act
    const [a, b] = [estimateTokens(short), estimateTokens(long)];

    // Assess
    expect(a).toBeGreaterThan(0);
    expect(b).toBeGreaterThan(a + 400);
  });
});

describe('inputHash', () => {
  it('is the same for the same input whatever the key order, at any depth', () => {
    // Prepare
    const a = { workspace: '1', filter: { assignee: 'me', completed: false }, tags: [{ b: 2, a: 1 }] };
    const b = { tags: [{ a: 1, b: 2 }], filter: { completed: false, assignee: 'me' }, workspace: '1' };

    // Act
    const [ha, hb] = [inputHash(a), inputHash(b)];

    // Assess
    expect(ha).toBe(hb);
    expect(ha).toMatch(/^[0-9a-f]{64}$/);
  });

  it.each([
    { change: 'a different value', other: { name: 'Ship it', project: '2' } },
    { change: 'an extra key', other: { name: 'Ship it', project: '1', notes: '' } },
    { change: 'a different type', other: { name: 'Ship it', project: 1 } },
    { change: 'reordered array items', other: { name: 'Ship it', project: '1', tags: ['b', 'a'] } },
  ])('changes with $change', ({ other }) => {
    // Prepare
    const input = { name: 'Ship it', project: '1', ...('tags' in other ? { tags: ['a', 'b'] } : {}) };

    // Act
    const [h1, h2] = [inputHash(input), inputHash(other)];

    // Assess
    expect(h1).not.toBe(h2);
  });
});
