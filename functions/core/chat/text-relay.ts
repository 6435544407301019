import type { ModelTextPart } from '../ports';
import type { RunEvents } from './events';

/**
 * Claude's text on its way to a streaming client, kept so that the deltas a request sent, after
 * applying its `text_reset`s, joined equal the text blocks of the assistant messages it stored,
 * in order, joined with `"\n\n"`.
 */
export class TextRelay {
  /** Text blocks of stored messages sent by this request (a later block is preceded by "\n\n"). */
  private storedBlocks = 0;
  /** Text of stored messages sent since the last `tool_call` or `text_reset`: what a reset would drop. */
  private storedSinceMark = '';
  /** Text blocks and text of the call in flight. */
  private pendingBlocks = 0;
  private pendingText = '';

  constructor(private readonly events: RunEvents | undefined) {}

  /** A piece of the call in flight. */
  hear(part: ModelTextPart): void {
    if (part.kind === 'text_start') {
      if (this.storedBlocks + this.pendingBlocks > 0) this.send('\n\n');
      this.pendingBlocks++;
    } else if (part.text !== '') {
      this.send(part.text);
    }
  }

  /** The call in flight was stored: its text stays. */
  keep(): void {
    this.storedBlocks += this.pendingBlocks;
    this.storedSinceMark += this.pendingText;
    this.pendingBlocks = 0;
    this.pendingText = '';
  }

  /**
   * The call in flight failed or was aborted and nothing of it is stored: when some of its text
   * was sent, `text_reset` drops the text since the last mark, and the stored part of it is sent again.
   */
  drop(): void {
    const sent = this.pendingText !== '';
    this.pendingBlocks = 0;
    this.pendingText = '';
    if (!sent) return;
    this.events?.emit({ event: 'text_reset', data: {} });
    if (this.storedSinceMark !== '') this.events?.emit({ event: 'text', data: { delta: this.storedSinceMark } });
  }

  /** A `tool_call` went out: a later reset keeps everything before it. */
  mark(): void {
    this.storedSinceMark = '';
  }

  private send(delta: string): void {
    this.pendingText += delta;
    this.events?.emit({ event: 'text', data: { delta } });
  }
}
