/**
 * The values a new deployment's secrets hold until an operator stores the real ones
 * (`infra/stacks/stateful-stack.ts` creates them; the functions and `npm run doctor` recognise
 * them, so a placeholder is never sent to Scalekit or Anthropic).
 */

/** The Scalekit secret is generated as `{"clientId": <this>, "clientSecret": <random>}`. */
export const SCALEKIT_PLACEHOLDER_CLIENT_ID = 'set-with-put-secret-value';

/** The Anthropic secret's whole value until the key is stored. */
export const ANTHROPIC_PLACEHOLDER = 'onbehalf-placeholder: store the Anthropic API key with put-secret-value';

export const isScalekitPlaceholder = (clientId: string): boolean => clientId === SCALEKIT_PLACEHOLDER_CLIENT_ID;
export const isAnthropicPlaceholder = (apiKey: string): boolean => apiKey === ANTHROPIC_PLACEHOLDER;
