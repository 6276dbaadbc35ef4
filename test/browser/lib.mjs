// What the browser tests' drivers share: their log line, headless Chromium's launch in a
// profile of its own, and the run that ends the driver.
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// log prints one event as a JSON line on stdout, which the Go test reads.
export const log = (event, extra = {}) => console.log(JSON.stringify({ event, t: Date.now(), ...extra }));

// Flags every driver passes: headless, no sandbox (CI containers), no GPU, and nothing
// Chromium would fetch by itself.
const commonArgs = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

const profiles = new WeakMap(); // browser -> its profile directory, removed by run

// launch starts headless Chromium (Debian's, or $CHROMIUM) in a new profile directory named
// after profilePrefix in the system's temporary directory. args are the driver's flags on
// top of the common ones; the other options (viewport, locale) go to launchPersistentContext.
export async function launch(profilePrefix, { args = [], ...options } = {}) {
  const profile = mkdtempSync(join(tmpdir(), profilePrefix));
  let browser;
  try {
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
      headless: true,
      args: [...commonArgs, ...args],
      ...options,
    });
  } catch (e) {
    rmSync(profile, { recursive: true, force: true });
    throw e;
  }
  profiles.set(browser, profile);
  return browser;
}

// close closes a browser launched by launch and removes its profile, for a driver that runs
// a second browser beside the one run ends.
export async function close(browser) {
  await browser.close();
  rmSync(profiles.get(browser), { recursive: true, force: true });
}

// run calls body with the browser's first page, then closes the browser, removes its
// profile and exits with the code body returned (0 when none), or 1 once it has logged an
// "error" event when body threw.
export async function run(browser, body) {
  let code = 0;
  try {
    code = (await body(browser.pages()[0] || await browser.newPage())) ?? 0;
  } catch (e) {
    log('error', { text: String(e && e.stack || e) });
    code = 1;
  } finally {
    await browser.close();
    rmSync(profiles.get(browser), { recursive: true, force: true });
  }
  process.exit(code);
}
