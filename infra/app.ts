/**
 * The CDK entry point (`cdk.json` "app"): `npm run synth`, `npm run deploy`. Deployment
 * settings come from context (`-c key=value`) or environment variables; see the README, "Deploy".
 */
import { SettingsError } from './settings';
import { buildApp } from './stacks/onbehalf-app';

try {
  buildApp();
} catch (error) {
  if (!(error instanceof SettingsError)) throw error;
  console.error(error.message);
  process.exit(1);
}
