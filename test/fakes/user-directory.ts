import { UpstreamError } from '../../functions/core/errors';
import type { UserDirectory } from '../../functions/core/ports';

/** The user pool as callers see it: each access token's email, a log of reads, scripted outages. */
export class FakeUserDirectory implements UserDirectory {
  readonly emails = new Map<string, string>();
  readonly reads: string[] = [];
  private readonly failures: unknown[] = [];

  /** The next read throws `error` (default: an outage of the user pool). */
  failNext(error: unknown = new UpstreamError('unavailable', 'cognito', 'The user pool could not be reached.')): void {
    this.failures.push(error);
  }

  async emailOf(accessToken: string): Promise<string | undefined> {
    this.reads.push(accessToken);
    const failure = this.failures.shift();
    if (failure !== undefined) throw failure;
    return this.emails.get(accessToken);
  }
}
