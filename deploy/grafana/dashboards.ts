/**
 * The dashboards the provisioner posts, imported statically so esbuild puts them inside the Lambda
 * bundle (the Lambda has no checkout of the repository). One import per file of grafana/dashboards;
 * deploy/test/grafana/provisioner.test.ts fails when a file there is missing from this list.
 */
import processor from '../../grafana/dashboards/processor.json' with { type: 'json' };
import risk from '../../grafana/dashboards/risk.json' with { type: 'json' };

/** A dashboard model as exported from Grafana; `uid` and `title` are what the provisioner relies on. */
export type Dashboard = Readonly<Record<string, unknown> & { uid: string; title: string }>;

export const dashboards: readonly Dashboard[] = [processor, risk];
