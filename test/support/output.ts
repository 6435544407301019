/**
 * Everything this process writes to stdout and stderr while captured (the functions' logs, for a
 * test that searches them), instead of printing it. `release()` puts both streams back.
 */
export function captureOutput(): { readonly lines: string[]; release(): void } {
  const lines: string[] = [];
  const writeStdout = process.stdout.write.bind(process.stdout);
  const writeStderr = process.stderr.write.bind(process.stderr);
  const capture = (chunk: unknown) => {
    lines.push(String(chunk));
    return true;
  };
  process.stdout.write = capture as typeof process.stdout.write;
  process.stderr.write = capture as typeof process.stderr.write;
  return {
    lines,
    release() {
      process.stdout.write = writeStdout;
      process.stderr.write = writeStderr;
    },
  };
}
