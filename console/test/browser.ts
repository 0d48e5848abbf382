/**
 * The browser the console's page tests drive: Debian's chromium (CI installs it, .ci/run) through
 * playwright-core, which downloads nothing. Without it a test file is skipped, except under CI,
 * where a missing browser must fail rather than pass unseen.
 */
import { existsSync } from 'node:fs';
import type { Test } from 'tap';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Why the browser tests cannot run here, or undefined when they can (or must). */
export function noBrowser(): string | undefined {
  if (existsSync(CHROMIUM) || process.env.CI === 'true') return undefined;
  return `no browser at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`;
}

/** A headless Chromium, closed when the test ends. */
export async function launchBrowser(t: Test): Promise<Browser> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  t.teardown(() => browser.close());
  return browser;
}
