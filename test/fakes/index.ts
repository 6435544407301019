/**
 * In-memory fakes of the domain's ports (`functions/core/ports.ts`), one file per port, plus
 * builders for the use cases' dependencies and assertions over their results. The store fakes
 * are held to the same contract suites (`test/contracts/`) as the DynamoDB adapters, so the
 * unit tests' races and refusals are the ones the real stores produce.
 */
export * from './assertions';
export * from './async';
export * from './clock';
export * from './connected-accounts';
export * from './connection-store';
export * from './conversation-store';
export * from './faults';
export * from './model';
export * from './run-observer';
export * from './usage-store';
export * from './user-directory';
export * from './worlds';
