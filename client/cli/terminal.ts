import { createInterface, type Interface } from 'node:readline';

/**
 * Where the CLI writes and reads: stdout for results, stderr for everything said to the user,
 * stdin for answers (a terminal, or lines piped in by a script or a test).
 */
export interface Terminal {
  /** A line of result on stdout. */
  out(line: string): void;
  /** Text on stdout as it comes (a streamed reply), with no newline added. */
  write(text: string): void;
  /** A line for the user on stderr (questions, progress, errors). */
  err(line: string): void;
  /** Asks on stderr and reads one line from stdin; `undefined` when stdin has ended. */
  ask(question: string): Promise<string | undefined>;
  /** Like {@link ask}, without echoing what is typed when stdin is a terminal. */
  askSecret(question: string): Promise<string | undefined>;
  /** Whether a person can be asked (stdin is a terminal). */
  readonly interactive: boolean;
  /** Stops reading stdin so the process can end. */
  close(): void;
}

/**
 * Control characters: C0 except tab and newline, DEL, and C1. Text from Claude or Asana that
 * reaches a terminal with them can move the cursor, hide what was printed, retitle the window
 * or write the clipboard (OSC 52); the CLI prints none of them.
 */
export function isControlCharacter(code: number): boolean {
  return (code < 0x20 && code !== 0x09 && code !== 0x0a) || (code >= 0x7f && code <= 0x9f);
}

/** `text` without control characters (newline and tab kept). */
export function printable(text: string): string {
  let kept = '';
  for (const char of text) if (!isControlCharacter(char.charCodeAt(0))) kept += char;
  return kept;
}

/** The process's own terminal: everything it writes goes through {@link printable}. */
export function processTerminal(): Terminal {
  const { stdin, stdout, stderr } = process;
  let lines: LineQueue | undefined;
  const readLine = (question: string, echo: boolean): Promise<string | undefined> => {
    if (stdin.isTTY) return readTtyLine(stdin, stderr, printable(question), echo);
    stderr.write(printable(question));
    lines ??= new LineQueue(createInterface({ input: stdin, crlfDelay: Infinity }));
    // Piped answers are not echoed by a terminal: show them (never a secret) so the transcript reads well.
    return lines.next().then((line) => {
      stderr.write(echo && line !== undefined ? `${printable(line)}\n` : '\n');
      return line;
    });
  };
  return {
    out: (line) => void stdout.write(`${printable(line)}\n`),
    write: (text) => void stdout.write(printable(text)),
    err: (line) => void stderr.write(`${printable(line)}\n`),
    ask: (question) => readLine(question, true),
    askSecret: (question) => readLine(question, false),
    interactive: stdin.isTTY === true,
    close: () => lines?.close(),
  };
}

/** Lines of a non-terminal stdin, handed out one per question, in order. */
class LineQueue {
  private readonly buffered: string[] = [];
  private readonly waiting: ((line: string | undefined) => void)[] = [];
  private ended = false;

  constructor(private readonly lines: Interface) {
    lines.on('line', (line) => {
      const waiter = this.waiting.shift();
      if (waiter) waiter(line);
      else this.buffered.push(line);
    });
    lines.on('close', () => {
      this.ended = true;
      for (const waiter of this.waiting.splice(0)) waiter(undefined);
    });
  }

  next(): Promise<string | undefined> {
    const line = this.buffered.shift();
    if (line !== undefined) return Promise.resolve(line);
    if (this.ended) return Promise.resolve(undefined);
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  close(): void {
    this.lines.close();
  }
}

/** Reads one line from a terminal in raw mode, echoing it or not; Ctrl-C ends the process (130). */
function readTtyLine(stdin: NodeJS.ReadStream, stderr: NodeJS.WriteStream, question: string, echo: boolean): Promise<string | undefined> {
  stderr.write(question);
  stdin.setRawMode(true);
  stdin.setEncoding('utf8');
  stdin.resume();
  let value = '';
  return new Promise((resolve) => {
    const finish = (result: string | undefined) => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      stderr.write('\n');
      resolve(result);
    };
    const onData = (chunk: string) => {
      for (const char of chunk) {
        if (char === '\r' || char === '\n') return finish(value);
        if (char === '\u0003') {
          finish(undefined);
          process.exit(130);
        }
        if (char === '\u0004') return finish(value === '' ? undefined : value);
        if (char === '\u007f' || char === '\b') {
          if (value !== '') {
            value = value.slice(0, -1);
            if (echo) stderr.write('\b \b');
          }
          continue;
        }
        value += char;
        if (echo) stderr.write(printable(char));
      }
    };
    stdin.on('data', onData);
  });
}
