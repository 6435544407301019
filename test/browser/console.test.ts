import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import AxeBuilder from '@axe-core/playwright';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startGateway } from '../../infra/local/gateway';
import type { LocalService } from '../../infra/local/service';
import { connected, person } from '../support/connect';
import { cursor, executions, marker, script, setAccountStatus, textTurn, toolLatency } from '../support/standins';

/**
 * The web console in Chromium, against the suite's stack, through the console only: managed
 * login, consent, chat with live tool calls, approvals, resume, and what must stay inert.
 */
const stack = inject('stack');
const world = inject('world');
const subs = inject('subs');
const CHROMIUM = process.env.ONBEHALF_CHROMIUM ?? '/usr/bin/chromium';
const IMAGES = join(process.cwd(), 'docs', 'images');
const privateProject = world.projects.find((project) => !project.public)!;
const publicProject = world.projects.find((project) => project.public)!;
const memberOf = (project: typeof privateProject) => world.people.find((p) => project.members.includes(p.asanaGid))!;
const outsiderOf = (project: typeof privateProject) =>
  world.people.find((p) => !project.members.includes(p.asanaGid) && !p.email.endsWith('@testers.test'))!;
const tasksOf = (project: typeof privateProject) => world.tasks.filter((task) => task.project === project.gid).map((task) => task.name);
const member = memberOf(privateProject);
const outsider = outsiderOf(privateProject);

let browser: Browser;
/** Gateways of this file's own (other tool policy, other budget) in front of the suite's stand-ins. */
let approvals: LocalService;
let budget: LocalService;
const dialogs: string[] = [];

beforeAll(async () => {
  browser = await chromium.launch({ executablePath: CHROMIUM, chromiumSandbox: false });
  Object.assign(process.env, inject('functionEnv'));
  const [{ handler: connect }, { handler: verify }, { createChatHandler }] = await Promise.all([
    import('../../functions/connect/handler'),
    import('../../functions/verify/handler'),
    import('../../functions/chat/handler'),
  ]);
  const issuer = `${stack.cognito.endpoint}/${stack.cognito.userPoolId}`;
  const gateway = (settings: Parameters<typeof createChatHandler>[0]) =>
    startGateway({ port: 0, issuer, webOrigin: stack.consoleUrl, handlers: { connect, verify, chat: createChatHandler(settings) } });
  approvals = await gateway({ settings: { toolPolicy: { asana_task_create: 'confirm', asana_story_create: 'confirm' } } });
  budget = await gateway({ settings: { modelCallBudget: 1 } });
  mkdirSync(IMAGES, { recursive: true });
});

afterAll(async () => {
  await browser?.close();
  await approvals?.close();
  await budget?.close();
});

/** A fresh browser profile signed in as `username` through the managed login page, optionally against another API. */
async function signIn(username: string, apiUrl?: string): Promise<{ context: BrowserContext; page: Page }> {
  // Pointed at one of this file's gateways, the profile must let the console call it: the
  // console's CSP names only the suite's API (connect-src), so this profile bypasses CSP.
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 }, bypassCSP: apiUrl !== undefined });
  if (apiUrl) {
    await context.route(`${stack.consoleUrl}/config.json`, async (route) => {
      const response = await route.fetch();
      await route.fulfill({ response, json: { ...(await response.json()), apiUrl } });
    });
  }
  const page = await context.newPage();
  if (process.env.DEBUG_CONSOLE) page.on('console', (message) => console.log(`[${username}] ${message.text()}`));
  page.on('dialog', (dialog) => {
    dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  await page.goto(stack.consoleUrl);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${stack.cognito.domain}/oauth2/authorize?**`);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(person(username).password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Conversations', level: 1 }).waitFor();
  return { context, page };
}

/** No serious or critical accessibility violation on the page as it is now. */
async function expectAccessible(page: Page, what: string): Promise<void> {
  const { violations } = await new AxeBuilder({ page }).analyze();
  const bad = violations.filter((violation) => violation.impact === 'serious' || violation.impact === 'critical');
  expect(bad.map((violation) => `${what}: ${violation.id} (${violation.nodes.map((node) => node.target.join(' ')).join(', ')})`)).toEqual(
    [],
  );
}

/** Sends a new chat from the home page and waits until the run has ended (the message box is usable again or a step waits). */
async function ask(page: Page, message: string): Promise<void> {
  await page.goto(`${stack.consoleUrl}/`);
  await page.getByLabel('Ask about your Asana').fill(message);
  await page.getByRole('button', { name: 'Send' }).click();
  await page.waitForURL(/\/conversations\/(?!new)[^/]+$/);
  await page.locator('.transcript[data-runs="1"]').waitFor({ timeout: 30_000 });
}

/** Does `action` on a conversation page and waits until the run it starts has ended. */
async function runOf(page: Page, action: () => Promise<void>): Promise<void> {
  const before = Number(await page.locator('.transcript').getAttribute('data-runs'));
  await action();
  await page.locator(`.transcript[data-runs="${before + 1}"]`).waitFor({ timeout: 30_000 });
}

/** A conversation page opened from its address has loaded (no run of its own). */
const loaded = (page: Page) => page.locator('.transcript[aria-busy="false"]').waitFor({ timeout: 20_000 });
const replies = (page: Page) => page.getByTestId('reply');

describe('the web console', { timeout: 90_000 }, () => {
  it('signs in through managed login, connects through the consent page and shows the pinned account on verify', async () => {
    const username = 'tatum';
    const { context, page } = await signIn(username);
    try {
      await expectAccessible(page, 'home');
      await page.getByRole('link', { name: 'Connections' }).click();
      const card = page.getByTestId('connection-asana');
      await expect.poll(() => card.textContent()).toContain('Not connected');
      await expectAccessible(page, 'connections');
      await card.getByRole('button', { name: 'Connect' }).click();

      // Asana's consent page (through Scalekit), then back to the console's verify page.
      await page.locator('input[name="email"]').fill(person(username).email);
      await page.locator('input[name="password"]').fill(person(username).password);
      await page.getByRole('button', { name: 'Allow' }).click();
      await page.waitForURL(`${stack.consoleUrl}/connections/verify**`);
      await expect.poll(() => page.getByTestId('pinned-account').textContent()).toContain(person(username).name);
      // The one-time values are gone from the address bar once used.
      expect(new URL(page.url()).search).toBe('');
      await expectAccessible(page, 'verify');

      await page.getByRole('link', { name: 'Connections' }).first().click();
      await expect.poll(() => card.textContent()).toContain('Connected');
      expect(await card.textContent()).toContain(person(username).email);
    } finally {
      await context.close();
    }
  });

  it("shows the project member's pinned account and takes a screenshot of the connections page", async () => {
    await connected(member.username);
    const { context, page } = await signIn(member.username);
    try {
      await page.getByRole('link', { name: 'Connections' }).click();
      const card = page.getByTestId('connection-asana');
      await expect.poll(() => card.textContent()).toContain(member.name);
      await page.screenshot({ path: join(IMAGES, 'console-connections.png') });
    } finally {
      await context.close();
    }
  });

  it('shows tool calls as they happen, before the reply that lists the private project’s tasks', async () => {
    await connected(member.username);
    const { context, page } = await signIn(member.username);
    await toolLatency(400);
    try {
      await page.goto(`${stack.consoleUrl}/`);
      // Record the order in which the first tool call and the reply naming the first task enter the page
      // (text written before a tool call streams in ahead of it; the answer must come after).
      const firstTask = JSON.stringify(tasksOf(privateProject)[0]!);
      await page.evaluate(`(() => {
        const seen = (window.seen = []);
        new MutationObserver(() => {
          if (!seen.includes('tool-call') && document.querySelector('[data-testid="tool-call"]')) seen.push('tool-call');
          const answered = [...document.querySelectorAll('[data-testid="reply"]')].some((node) => node.textContent.includes(${firstTask}));
          if (!seen.includes('reply') && answered) seen.push('reply');
        }).observe(document.body, { childList: true, subtree: true, characterData: true });
      })()`);
      await page.getByLabel('Ask about your Asana').fill(`What's in the ${privateProject.name} board?`);
      await page.getByRole('button', { name: 'Send' }).click();
      await page.getByTestId('tool-call').first().waitFor();
      await page.locator('.transcript[data-runs="1"]').waitFor({ timeout: 30_000 });
      const reply = (await replies(page).last().textContent()) ?? '';
      for (const task of tasksOf(privateProject)) expect(reply).toContain(task);
      expect(await page.evaluate('window.seen')).toEqual(['tool-call', 'reply']);
      expect(await page.getByTestId('tool-call').first().textContent()).toMatch(/asana_\w+/);
      await expectAccessible(page, 'conversation');
      await page.screenshot({ path: join(IMAGES, 'console-chat.png'), fullPage: true });

      // The conversation is listed on the home page and opens again from its own address.
      const address = page.url();
      await page.goto(`${stack.consoleUrl}/`);
      await page
        .getByRole('link', { name: new RegExp(privateProject.name) })
        .first()
        .click();
      await page.waitForURL(address);
      await expect.poll(async () => (await replies(page).last().textContent()) ?? '').toContain(tasksOf(privateProject)[0]!);
    } finally {
      await toolLatency(0);
      await context.close();
    }
  });

  it('tells someone outside the private project that it is not visible to them', async () => {
    await connected(outsider.username);
    const { context, page } = await signIn(outsider.username);
    try {
      await ask(page, `What's in the ${privateProject.name} board?`);
      const reply = (await replies(page).last().textContent()) ?? '';
      expect(reply).toContain(privateProject.name);
      for (const task of tasksOf(privateProject)) expect(reply).not.toContain(task);
    } finally {
      await context.close();
    }
  });

  it('asks for approval with the exact input: Approve writes the task, Deny writes nothing', async () => {
    await connected(member.username);
    const { context, page } = await signIn(member.username, approvals.url);
    try {
      const approved = marker('approved');
      const since = await cursor(() => executions());
      await ask(page, `Create a task "${approved}" in the "${publicProject.name}" project and assign it to me`);
      const card = page.getByTestId('approval');
      await expect.poll(() => card.textContent()).toContain(approved);
      expect(await card.locator('pre').textContent()).toContain(`"name": "${approved}"`);
      await expectAccessible(page, 'approval');
      expect((await executions(since)).filter((run) => run.toolName === 'asana_task_create')).toEqual([]);
      await runOf(page, () => card.getByRole('button', { name: 'Approve' }).click());
      await expect.poll(() => card.count()).toBe(0);
      const created = (await executions(since)).filter((run) => run.toolName === 'asana_task_create');
      expect(created).toHaveLength(1);
      expect(created[0]).toMatchObject({ identifier: subs[member.username], outcome: 'succeeded' });

      const denied = marker('denied');
      const before = await cursor(() => executions());
      await ask(page, `Create a task "${denied}" in the "${publicProject.name}" project and assign it to me`);
      await expect.poll(() => card.textContent()).toContain(denied);
      await runOf(page, () => card.getByRole('button', { name: 'Deny' }).click());
      await expect.poll(() => card.count()).toBe(0);
      expect(await page.getByTestId('tool-call').last().textContent()).toContain('denied');
      expect((await executions(before)).filter((run) => run.toolName === 'asana_task_create')).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('renders a task named like HTML and a javascript: link as inert text; no dialog opens', async () => {
    await connected(member.username);
    const payload = `<img src=x onerror=alert(1)> ${marker('xss')}`;
    // The task is made through the console itself (approved), then read back in a profile with the console's CSP.
    const maker = await signIn(member.username, approvals.url);
    try {
      await ask(maker.page, `Create a task "${payload}" in the "${publicProject.name}" project and assign it to me`);
      await runOf(maker.page, () => maker.page.getByTestId('approval').getByRole('button', { name: 'Approve' }).click());
    } finally {
      await maker.context.close();
    }
    const { context, page } = await signIn(member.username);
    try {
      await ask(page, `What's in the "${publicProject.name}" project?`);
      const reply = replies(page).last();
      expect((await reply.textContent()) ?? '').toContain(payload);
      expect(await page.locator('.transcript img').count()).toBe(0);

      const tag = marker('links');
      await script(tag, [textTurn(`See [the details](javascript:alert(2)) or <a href="javascript:alert(3)">here</a>. ${tag}`)]);
      await ask(page, `Show me the links ${tag}`);
      const links = page.locator('.transcript a');
      const hrefs = await links.evaluateAll((found) => found.map((link) => link.getAttribute('href') ?? ''));
      expect(hrefs.filter((href) => /^\s*javascript:/i.test(href))).toEqual([]);
      expect((await replies(page).last().textContent()) ?? '').toContain('<a href="javascript:alert(3)">here</a>');
      for (const link of await links.all()) await link.click();
      // Reloaded from its address, the stored conversation renders the same way.
      await page.goto(page.url());
      await loaded(page);
      await expect.poll(() => replies(page).count()).toBeGreaterThan(0);
      expect(await page.locator('.transcript img').count()).toBe(0);
      expect(dialogs).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('offers Resume for a run that stopped part-way, and resuming completes it', async () => {
    await connected(member.username);
    const { context, page } = await signIn(member.username, budget.url);
    try {
      await ask(page, `What's in the ${privateProject.name} board?`);
      const resume = page.getByRole('button', { name: 'Resume' });
      await resume.waitFor();
      expect(await page.getByRole('heading', { name: 'This run stopped part-way' }).count()).toBe(1);
      // One model call per request: each resume takes the run one step further, none repeats a finished tool call.
      for (let step = 0; step < 8 && (await resume.count()) > 0; step++) {
        await runOf(page, () => resume.click());
      }
      expect(await resume.count()).toBe(0);
      expect((await replies(page).last().textContent()) ?? '').toContain(tasksOf(privateProject)[0]!);
    } finally {
      await context.close();
    }
  });

  it('shows the authorization link when the connection has expired', async () => {
    const username = 'tatum';
    await connected(username);
    await setAccountStatus(subs[username]!, 'EXPIRED');
    const { context, page } = await signIn(username);
    try {
      await ask(page, `What's in the "${publicProject.name}" project?`);
      const link = page.getByTestId('authorization-link');
      await link.waitFor();
      expect(await link.getAttribute('href')).toMatch(/^https?:\/\//);
      expect(await page.getByRole('button', { name: 'Resume' }).count()).toBe(1);
      await expectAccessible(page, 'needs authorization');
    } finally {
      await context.close();
    }
  });
});
