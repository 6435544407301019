import { z } from 'zod';
import { ApiClient } from './api';
import { parseInvocation, USAGE } from './args';
import { chat } from './chat';
import { as, autoConsentUser, connect, label, LoopbackCallback } from './connect';
import { connectionListSchema } from './contract';
import { cacheDirOf, Session } from './login';
import { output } from './output';
import { resolveTarget } from './target';
import type { Terminal } from './terminal';

/** What a run of the CLI is given by its process. */
export interface Environment {
  readonly env: NodeJS.ProcessEnv;
  /** The project root (where `.onbehalf/stack.json` is). */
  readonly root: string;
  readonly terminal: Terminal;
}

/**
 * One invocation of `npm run agent -- …`: parse, resolve where and whom, log in on demand,
 * run the command. Failures are thrown as `CliError`s for the entry point to print.
 */
export async function runCli(argv: readonly string[], { env, root, terminal }: Environment): Promise<void> {
  const invocation = parseInvocation(argv, env);
  if (invocation.command === 'help') {
    terminal.out(USAGE);
    return;
  }
  const target = await resolveTarget(invocation.target, env, root, terminal);
  const session = new Session(target, cacheDirOf(env));
  const api = new ApiClient(target.apiUrl, session, target.unreachableHint);
  const out = output(terminal, invocation.json);
  let callback: LoopbackCallback | undefined;
  try {
    switch (invocation.command) {
      case 'logout':
        out.say(session.logout() ? `Logged out ${target.username} (cached tokens removed).` : `No cached tokens for ${target.username}.`);
        return;
      case 'login':
        await session.login();
        out.say(`Logged in as ${target.username} at ${target.apiUrl}.`);
        return;
      case 'connections': {
        const list = await api.call('GET', '/connections', connectionListSchema);
        out.result(list.raw);
        if (out.json) return;
        for (const entry of list.body.connections) {
          const account = entry.account ? `${as(entry.account).slice(' as '.length)} (gid ${entry.account.gid})` : '-';
          out.say(
            `${entry.connection.padEnd(10)} ${entry.status.padEnd(20)} ${account}${entry.checkedAt ? `  checked ${entry.checkedAt}` : ''}`,
          );
        }
        return;
      }
      case 'disconnect':
        // `204 No Content`: no body.
        await api.call('DELETE', `/connections/${encodeURIComponent(invocation.connection)}`, z.undefined());
        out.say(`Disconnected ${label(invocation.connection)} for ${target.username}.`);
        return;
      case 'connect':
      case 'chat': {
        callback = await LoopbackCallback.start(invocation.callbackPort);
        const ctx = {
          api,
          output: out,
          callback,
          terminal,
          stream: !invocation.noStream && !invocation.json,
          autoConsent: autoConsentUser(invocation.autoConsent, target.asanaUser),
          waitMs: invocation.waitSeconds * 1000,
        };
        if (invocation.command === 'connect') await connect(ctx, invocation.connection);
        else await chat(ctx, invocation.prompt, invocation.conversation);
        return;
      }
    }
  } finally {
    await callback?.close();
    session.close();
  }
}
