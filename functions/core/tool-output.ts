/**
 * What a tool returns is data from Asana, written by whoever can write in that workspace — not
 * by the user. It reaches Claude wrapped in a marker that says so (and the system prompt tells
 * Claude that instructions inside it are not the user's); a closing tag inside the data cannot
 * end the wrapper early.
 */
export function markUntrusted(toolName: string, text: string): string {
  const body = text.replace(/<(\/?)untrusted_tool_output/gi, '<$1untrusted_tool_output_text');
  return `<untrusted_tool_output tool="${toolName}">\n${body}\n</untrusted_tool_output>`;
}

/** Bytes a string takes once stored: the conversation store keeps message content as JSON text. */
export function storedBytes(text: string): number {
  return Buffer.byteLength(JSON.stringify(text), 'utf8') - 2;
}

/**
 * Cuts text so that it takes at most `maxStoredBytes` once stored (quotes, backslashes and
 * control characters grow when escaped, so the budget is measured on the stored form), with a
 * visible marker so Claude knows it saw only part.
 */
export function truncateStored(text: string, maxStoredBytes: number): string {
  if (storedBytes(text) <= maxStoredBytes) return text;
  const marker = `\n…[truncated: the result was ${Buffer.byteLength(text, 'utf8')} bytes; only the start is shown]`;
  const room = maxStoredBytes - storedBytes(marker);
  if (room <= 0) return marker.slice(0, Math.max(0, maxStoredBytes));
  let low = 0;
  let high = Math.min(text.length, room);
  while (low < high) {
    const mid = Math.ceil((low + high) / 2);
    if (storedBytes(safePrefix(text, mid)) <= room) low = mid;
    else high = mid - 1;
  }
  return safePrefix(text, low) + marker;
}

/** A prefix that never ends in half of a surrogate pair. */
function safePrefix(text: string, length: number): string {
  const code = text.charCodeAt(length - 1);
  return code >= 0xd800 && code <= 0xdbff ? text.slice(0, length - 1) : text.slice(0, length);
}
