import { isControlCharacter, type Terminal } from './terminal';

/**
 * What the CLI prints, in its two modes. Human: results and progress on stdout, notes on
 * stderr. `--json`: each API answer as one JSON line on stdout and nothing else there; what
 * would be said to a person goes to stderr.
 */
export interface Output {
  readonly json: boolean;
  /** An API answer: one JSON line with `--json`, nothing otherwise. */
  result(raw: unknown): void;
  /** A line for the person (stdout; stderr with `--json`). */
  say(line: string): void;
  /** Part of a line for the person, as it arrives (a streamed reply); no newline is added. */
  write(text: string): void;
  /** A side note (always stderr). */
  note(line: string): void;
}

/**
 * JSON text with DEL and C1 characters escaped (`JSON.stringify` escapes only C0): the terminal
 * strips control characters, and in `--json` mode the value must survive that unchanged.
 */
export function jsonLine(raw: unknown): string {
  let line = '';
  for (const char of JSON.stringify(raw)) {
    const code = char.charCodeAt(0);
    line += isControlCharacter(code) ? `\\u${code.toString(16).padStart(4, '0')}` : char;
  }
  return line;
}

export function output(terminal: Terminal, json: boolean): Output {
  return {
    json,
    result: (raw) => {
      if (json) terminal.out(jsonLine(raw));
    },
    say: (line) => (json ? terminal.err(line) : terminal.out(line)),
    write: (text) => (json ? terminal.err(text) : terminal.write(text)),
    note: (line) => terminal.err(line),
  };
}
