import { defineConfig } from 'vitest/config';

/**
 * Test files that need the shared local stack (`test/setup/global-stack.ts`: DynamoDB Local, so
 * Java, plus every stand-in and the gateway) and read it through `inject`. Every other file starts
 * what it needs itself, or nothing.
 */
const STACK_BACKED = [
  'test/e2e/**/*.test.ts',
  'test/bundle/**/*.test.ts',
  'test/integration/dynamodb.test.ts',
  'test/integration/gateway.test.ts',
  'test/integration/identity.test.ts',
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
          // CDK synth, and the stand-ins each file starts for itself (no shared stack, no Java).
          include: ['test/**/*.test.ts'],
          exclude: ['test/unit/**', ...STACK_BACKED],
        },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          include: STACK_BACKED,
          globalSetup: ['test/setup/global-stack.ts'],
        },
      },
    ],
  },
});
