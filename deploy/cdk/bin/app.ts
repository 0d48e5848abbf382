/**
 * The CDK app: `cd deploy/cdk && npx cdk synth` (offline: no credentials, no lookups).
 * cdk-nag's AwsSolutions pack runs on every synth; an unacknowledged finding fails it.
 * Context `-c simulator=false` leaves out the simulator task definition. The risk console needs
 * `-c consoleDomain=<name> -c consoleCertificateArn=<ACM ARN>` (the synth fails naming what is
 * missing), or `-c console=false` to leave it out (lib/console.ts).
 */
import { buildApp } from '../lib/build-app.js';

buildApp().app.synth();
