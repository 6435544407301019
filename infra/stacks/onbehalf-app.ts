import { App, Tags, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { DEFAULT_VERIFY_URL, loadSettings, type Settings } from '../settings';
import { ApiStack } from './api-stack';
import { ConsoleContentStack, ConsoleStack } from './console-stack';
import { StatefulStack } from './stateful-stack';

export interface BuildAppOptions {
  /** The app to build into (tests pass one that skips bundling). @default a new App */
  readonly app?: App;
  /** The environment settings and the target account/region are read from. @default process.env */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

export interface OnbehalfApp {
  readonly app: App;
  readonly settings: Settings;
  readonly stateful: StatefulStack;
  readonly api: ApiStack;
  /** The console's stacks (absent with `-c console=false`). */
  readonly console?: ConsoleStack;
  readonly consoleContent?: ConsoleContentStack;
}

/** Runs the cdk-nag AWS Solutions checks on every stack of the app at synthesis. */
export function applyNag(app: App): void {
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
}

/**
 * The whole deployment: settings (context → environment → default), the stateful stack
 * (`<prefix>-Stateful`), the api stack (`<prefix>-Api`) that receives its resources as typed
 * props, and cdk-nag. `infra/app.ts` calls this; the infra tests call it too, so they check
 * exactly what `cdk deploy` deploys.
 */
export function buildApp(options: BuildAppOptions = {}): OnbehalfApp {
  const app = options.app ?? new App();
  const env = options.env ?? process.env;
  const settings = loadSettings({ context: (key) => app.node.tryGetContext(key), env });
  // Both undefined offline: the stacks are then environment-agnostic and synthesize without credentials.
  const target = { account: env.CDK_DEFAULT_ACCOUNT, region: env.CDK_DEFAULT_REGION };

  const stateful = new StatefulStack(app, `${settings.stackPrefix}-Stateful`, {
    env: target,
    settings,
    description: 'onbehalf: table, Cognito user pool and secrets (retained on delete)',
    // Deleting it would drop the secrets; `aws cloudformation update-termination-protection` lifts this on purpose.
    terminationProtection: true,
  });
  // The web console is deployed unless `-c console=false` (or ONBEHALF_CONSOLE=false) says otherwise.
  const withConsole = String(app.node.tryGetContext('console') ?? env.ONBEHALF_CONSOLE ?? 'true') !== 'false';
  const webConsole = withConsole
    ? new ConsoleStack(app, `${settings.stackPrefix}-Console`, {
        env: target,
        settings,
        userPool: stateful.resources.userPool,
        description: 'onbehalf: web console hosting (S3 + CloudFront), managed login domain and the console app client',
      })
    : undefined;
  // The console is the API's web origin, and its verify page the default verify URL, unless set.
  const apiSettings: Settings = webConsole
    ? {
        ...settings,
        webOrigin: settings.webOrigin ?? webConsole.origin,
        defaultVerifyUrl:
          settings.defaultVerifyUrl === DEFAULT_VERIFY_URL ? `${webConsole.origin}/connections/verify` : settings.defaultVerifyUrl,
      }
    : settings;
  const api = new ApiStack(app, `${settings.stackPrefix}-Api`, {
    env: target,
    settings: apiSettings,
    stateful: stateful.resources,
    consoleClient: webConsole?.webClient,
    description: 'onbehalf: functions, REST API, schedule and alarms',
  });
  const consoleContent =
    webConsole &&
    new ConsoleContentStack(app, `${settings.stackPrefix}-ConsoleContent`, {
      env: target,
      settings,
      console: webConsole,
      userPool: stateful.resources.userPool,
      apiUrl: api.apiUrl,
      description: "onbehalf: the web console's files and config.json",
    });
  Tags.of(app).add('project', 'onbehalf');
  applyNag(app);
  return { app, settings, stateful, api, console: webConsole, consoleContent };
}
