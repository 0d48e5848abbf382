/**
 * Builds the CDK app with cdk-nag's AwsSolutions pack registered: used by bin/app.ts (`cdk synth`)
 * and by the tests, so both check the same thing.
 */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { PaymentsStack, type PaymentsStackProps } from './payments-stack.js';

export const STACK_NAME = 'StolenCardAlerting';

export function buildApp(options: { outdir?: string; context?: Record<string, unknown>; stack?: PaymentsStackProps } = {}) {
  const app = new App({ ...(options.outdir ? { outdir: options.outdir } : {}), ...(options.context ? { context: options.context } : {}) });
  const simulatorContext = app.node.tryGetContext('simulator');
  const stack = new PaymentsStack(app, STACK_NAME, {
    description: 'Stolen-card payment alerting: Kinesis, processor on ECS Fargate, Firehose to Redshift',
    simulator: simulatorContext !== 'false' && simulatorContext !== false,
    ...options.stack,
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
  return { app, stack };
}
