import { invalidArgument } from './errors';

/** Page size when a request names none; larger requests are clamped to {@link MAX_PAGE_SIZE}. */
export const DEFAULT_PAGE_SIZE = 30;
export const MAX_PAGE_SIZE = 100;

/** Opaque page tokens are the base64url-encoded offset of the page's first item. */
const encode = (offset: number): string => Buffer.from(`o:${offset}`).toString('base64url');

function decode(token: string): number {
  const match = /^o:(\d+)$/.exec(Buffer.from(token, 'base64url').toString('utf8'));
  if (!match?.[1]) throw invalidArgument('invalid page_token');
  return Number(match[1]);
}

export interface Page<T> {
  items: T[];
  totalSize: number;
  nextPageToken: string;
  prevPageToken: string;
}

/** One page of `items` for a `page_size` / `page_token` request, with Scalekit's next/prev tokens. */
export function paginate<T>(items: T[], pageSize: number, pageToken: string): Page<T> {
  const size = pageSize > 0 ? Math.min(pageSize, MAX_PAGE_SIZE) : DEFAULT_PAGE_SIZE;
  const offset = pageToken ? decode(pageToken) : 0;
  const end = offset + size;
  return {
    items: items.slice(offset, end),
    totalSize: items.length,
    nextPageToken: end < items.length ? encode(end) : '',
    prevPageToken: offset > 0 ? encode(Math.max(0, offset - size)) : '',
  };
}
