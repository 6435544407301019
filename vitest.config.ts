import { defineConfig } from 'vitest/config';

/**
 * Test files that start what they need themselves (CDK synthesis, a stand-in of their own) and
 * read nothing through `inject`: no shared stack, so no Java. Every other file outside
 * `test/unit` runs in the `e2e` project, with the shared stack (`test/setup/global-stack.ts`), so a
 * new file gets the stack unless it is listed here.
 */
const STANDALONE = [
  'test/infra/**/*.test.ts',
  'test/integration/asana*.test.ts',
  'test/integration/model*.test.ts',
  'test/integration/scalekit.test.ts',
  'test/integration/secrets.test.ts',
];

/**
 * Three projects, one run: `npm test` runs them all; `npm run test:unit` only `unit`;
 * `npm run test:e2e` only `e2e`. Only `e2e` boots the shared stack.
 */
export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    maxWorkers: 2,
    // Lambda runs Node 24; these machines run Node 20, where the AWS SDK warns on every process.
    env: {
      CDK_DISABLE_CLI_TELEMETRY: 'true',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      POWERTOOLS_METRICS_DISABLED: 'true',
    },
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          // `functions/core` with in-memory fakes of its ports: no Java, no sockets, seconds.
          include: ['test/unit/**/*.test.ts'],
          testTimeout: 10_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'standalone',
          include: STANDALONE,
        },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          // Everything that needs the running stack: e2e, bundles, attacks, adapters on DynamoDB Local, the gateway.
          include: ['test/**/*.test.ts'],
          exclude: ['test/unit/**', ...STANDALONE],
          globalSetup: ['test/setup/global-stack.ts'],
        },
      },
    ],
  },
});
