/**
 * In-memory fakes of the domain's ports (`functions/core/ports.ts`), one file per port, faithful
 * to their contracts and to the DynamoDB / Scalekit adapters' conditional writes, plus builders
 * for the use cases' dependencies and assertions over their results.
 */
export * from './assertions';
export * from './async';
export * from './clock';
export * from './connected-accounts';
export * from './connection-store';
export * from './conversation-store';
export * from './faults';
export * from './model';
export * from './worlds';
