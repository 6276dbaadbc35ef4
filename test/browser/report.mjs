// Opens an event's printable report as the communication lead would, in French and in
// English, with an operator's API token: waits for the server-made SVG chart, reads the
// figures the page shows, and saves a full-page screenshot of each (and a print-media one).
//
// Then, logged in to the console with the admin's password, opens the stream page (our
// viewers, the platforms' and the total) and the console's report view.
//
//   node report.mjs <report URL without ?> <API token> <screenshot dir> <console base URL> <admin password> <stream>
//
// Prints one JSON line per page ("page": lang, peakAll, distinct, lines, platforms; then
// "consoleView": the stream page's and the report view's figures); exits non-zero when a page
// does not show what it must.
import { join } from 'node:path';
import { launch, log, run } from './lib.mjs';

const [url, token, shots, base, password, stream] = process.argv.slice(2);

const browser = await launch('beffroi-report-', { viewport: { width: 1100, height: 900 } });

await run(browser, async (page) => {
  page.on('console', (m) => log('console', { text: m.text() }));
  await page.setExtraHTTPHeaders({ Authorization: 'Bearer ' + token }); // this page only
  for (const lang of ['fr', 'en']) {
    const res = await page.goto(url + '?lang=' + lang + '&tz=Europe/Paris');
    if (!res.ok()) throw new Error(lang + ': ' + res.status() + ' ' + (await res.text()));
    await page.waitForSelector('#chart svg polyline', { timeout: 10000 });
    const got = await page.evaluate(() => ({
      htmlLang: document.documentElement.lang,
      title: document.querySelector('h1').textContent,
      peakAll: Number(document.querySelector('#peak-all').textContent),
      distinct: Number(document.querySelector('#distinct').textContent),
      lines: document.querySelectorAll('#chart svg polyline').length,
      platforms: [...document.querySelectorAll('#platforms tr td:first-child')].map((td) => td.textContent),
      destinations: [...document.querySelectorAll('#destinations tr td:first-child')].map((td) => td.textContent),
      chartWidth: document.querySelector('#chart svg').getBoundingClientRect().width,
    }));
    await page.screenshot({ path: join(shots, 'report-' + lang + '.png'), fullPage: true });
    await page.emulateMedia({ media: 'print' });
    await page.screenshot({ path: join(shots, 'report-' + lang + '-print.png'), fullPage: true });
    await page.emulateMedia({ media: 'screen' });
    log('page', { lang, ...got });
  }

  const con = await browser.newPage();
  con.on('console', (m) => log('console', { text: m.text() }));
  await con.goto(base + '/');
  await con.waitForSelector('#login-password');
  await con.fill('#login-name', 'admin');
  await con.fill('#login-password', password);
  await con.click('#login-submit');
  await con.waitForFunction(() => document.body.dataset.view && document.body.dataset.view !== 'login', null, { timeout: 15000 });
  await con.goto(base + '/#/streams/' + encodeURIComponent(stream));
  await con.waitForSelector('#viewers-all', { timeout: 15000 });
  await con.waitForSelector('#platforms li b', { timeout: 15000 });
  const streamPage = await con.evaluate(() => ({
    all: Number(document.querySelector('#viewers-all').textContent),
    now: Number(document.querySelector('#viewers-now').textContent),
    platforms: document.querySelector('#platforms').textContent,
  }));
  await con.screenshot({ path: join(shots, 'console-stream.png'), fullPage: true });
  await con.click('#viewers-platforms a');
  await con.waitForSelector('#rep-peak-all', { timeout: 15000 });
  await con.waitForFunction(() => { const i = document.querySelector('.report-chart'); return i && i.complete && i.naturalWidth > 0; }, null, { timeout: 15000 });
  const view = await con.evaluate(() => ({
    peakAll: Number(document.querySelector('#rep-peak-all').textContent),
    events: document.querySelectorAll('#report-events li a').length,
    print: document.querySelector('#rep-print').getAttribute('href'),
  }));
  await con.screenshot({ path: join(shots, 'console-report.png'), fullPage: true });
  log('consoleView', { streamPage, view });
  await con.close();
});
