/** Builders of the use cases' dependencies over fresh fakes. */
import type { ChatDeps, ChatSettings } from '../../functions/core/chat';
import type { ConnectionSettings, ConnectionsDeps } from '../../functions/core/connections';
import { ManualClock } from './clock';
import { FakeConnectedAccounts } from './connected-accounts';
import { FakeConnectionStore } from './connection-store';
import { FakeConversationStore } from './conversation-store';
import { CrashAt } from './faults';
import { ScriptedModel } from './model';
import { RecordingObserver } from './run-observer';
import { FakeUserDirectory } from './user-directory';

export const DEFAULT_VERIFY_URL = 'https://console.onbehalf.test/connections/verify';
export const WEB_ORIGIN = 'https://console.onbehalf.test';

export const connectionSettings = (overrides: Partial<ConnectionSettings> = {}): ConnectionSettings => ({
  connections: ['asana'],
  stateTtlSeconds: 600,
  defaultVerifyUrl: DEFAULT_VERIFY_URL,
  webOrigin: WEB_ORIGIN,
  ...overrides,
});

/** The connections use cases over fresh fakes. */
export function connectionsWorld(overrides: Partial<ConnectionSettings> = {}, accounts = new FakeConnectedAccounts()) {
  const store = new FakeConnectionStore();
  const clock = new ManualClock();
  const users = new FakeUserDirectory();
  let states = 0;
  const deps: ConnectionsDeps = {
    accounts,
    store,
    clock,
    newState: () => `state-${++states}`,
    settings: connectionSettings(overrides),
    users,
  };
  return { deps, accounts, store, clock, users };
}

export const chatSettings = (overrides: Partial<ChatSettings> = {}): ChatSettings => ({
  connections: ['asana'],
  toolAllowlist: ['asana_me_get', 'asana_tasks_list', 'asana_task_get', 'asana_task_create', 'asana_story_create', 'asana_task_delete'],
  toolPolicy: {},
  modelCallBudget: 20,
  timeBudgetMs: 25_000,
  streamTimeBudgetMs: 300_000,
  modelTimeoutMs: 20_000,
  modelMaxRetries: 1,
  leaseMs: 60_000,
  historyTokenBudget: 100_000,
  toolResultMaxBytes: 16_384,
  systemPrompt: 'You act in Asana for the user.',
  ...overrides,
});

/** The chat use cases over fresh fakes; the caller's account starts ACTIVE unless told otherwise. */
export function chatWorld(options: { settings?: Partial<ChatSettings>; model?: ScriptedModel; accounts?: FakeConnectedAccounts } = {}) {
  const connections = connectionsWorld({}, options.accounts);
  const { accounts, clock } = connections;
  const conversations = new FakeConversationStore({ days: 90, clock });
  const model = options.model ?? new ScriptedModel();
  const faults = new CrashAt();
  const observer = new RecordingObserver();
  let ids = 0;
  let leases = 0;
  const deps: ChatDeps = {
    store: conversations,
    accounts,
    model,
    clock,
    newConversationId: () => `c_${clock.now().toString(36).padStart(10, '0').slice(-10)}${(++ids).toString(16).padStart(12, '0')}`,
    newLeaseId: () => `lease-${++leases}`,
    connections: connections.deps,
    settings: chatSettings(options.settings),
    faults,
    observer,
  };
  return { deps, accounts, conversations, model, clock, faults, observer, connectionStore: connections.store };
}
