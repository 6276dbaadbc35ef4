// Opens an event's printable report as the communication lead would, in French and in
// English, with an operator's API token: waits for the server-made SVG chart, reads the
// figures the page shows, and saves a full-page screenshot of each (and a print-media one).
//
//   node report.mjs <report URL without ?> <API token> <screenshot dir>
//
// Prints one JSON line per page ("page": lang, peakAll, distinct, lines, platforms); exits
// non-zero when a page does not show its chart.
import { join } from 'node:path';
import { launch, log, run } from './lib.mjs';

const [url, token, shots] = process.argv.slice(2);

const browser = await launch('beffroi-report-', {
  viewport: { width: 1100, height: 900 },
  extraHTTPHeaders: { Authorization: 'Bearer ' + token },
});

await run(browser, async (page) => {
  page.on('console', (m) => log('console', { text: m.text() }));
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
});
