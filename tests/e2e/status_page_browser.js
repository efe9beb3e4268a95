// Loads modpubd's status page in Debian's headless Chromium (driven by playwright-core,
// which never downloads a browser here: executablePath is the system's) at a phone's and
// a desktop's width, saves a screenshot of each and prints, as one JSON object, what the
// test checks: the visible text, the layout widths, the script elements, the status, and
// how much of each saved screenshot is ink.
//
//   node status_page_browser.js <url> <screenshot dir> [user:password]
//
// PLAYWRIGHT_CORE names the playwright-core package directory (tools/node_modules/...).
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require(process.env.PLAYWRIGHT_CORE || 'playwright-core');

const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const VIEWS = {
  phone: { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true,
    hasTouch: true },
  desktop: { viewport: { width: 1280, height: 900 }, deviceScaleFactor: 1 },
};

async function look(name, url, outDir, credentials) {
  // A fresh profile per view: nothing cached or remembered between them.
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), `status-page-${name}-`));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: FLAGS,
    timeout: 60000,
    httpCredentials: credentials,
    ...VIEWS[name],
  });
  try {
    const page = context.pages()[0] || await context.newPage();
    const response = await page.goto(url, { waitUntil: 'load', timeout: 30000 });
    const shot = path.join(outDir, `status-page-${name}.png`);
    await page.screenshot({ path: shot, fullPage: true });
    const facts = await page.evaluate(() => ({
      text: document.body.innerText,
      innerWidth: window.innerWidth,
      scrollWidth: document.documentElement.scrollWidth,
      bodyScrollWidth: document.body.scrollWidth,
      scripts: document.querySelectorAll('script').length,
      title: document.title,
      links: Array.from(document.querySelectorAll('a[href]')).map((a) => a.getAttribute('href')),
    }));
    return { status: response.status(), screenshot: shot, ink: await inkOf(context, shot),
      ...facts };
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

// How much of a saved screenshot is not background, decoded from the file by the browser:
// the share of pixels far from the top-left pixel's colour, and how many distinct colours
// (quantized) the image holds. A blank or single-colour capture has ~0 and 1.
async function inkOf(context, file) {
  const page = await context.newPage();
  try {
    const b64 = fs.readFileSync(file).toString('base64');
    return await page.evaluate(async (data) => {
      const img = new Image();
      img.src = `data:image/png;base64,${data}`;
      await img.decode();
      const canvas = document.createElement('canvas');
      canvas.width = img.naturalWidth;
      canvas.height = img.naturalHeight;
      const g = canvas.getContext('2d');
      g.drawImage(img, 0, 0);
      const px = g.getImageData(0, 0, canvas.width, canvas.height).data;
      const colours = new Set();
      let far = 0;
      for (let i = 0; i < px.length; i += 4) {
        const d = Math.abs(px[i] - px[0]) + Math.abs(px[i + 1] - px[1]) + Math.abs(px[i + 2] - px[2]);
        if (d > 96) far++;
        colours.add(((px[i] >> 4) << 8) | ((px[i + 1] >> 4) << 4) | (px[i + 2] >> 4));
      }
      return { width: canvas.width, height: canvas.height, inked: far / (px.length / 4),
        colours: colours.size };
    }, b64);
  } finally {
    await page.close();
  }
}

async function main() {
  const [url, outDir, userPass] = process.argv.slice(2);
  let credentials;
  if (userPass) {
    const at = userPass.indexOf(':');
    credentials = { username: userPass.slice(0, at), password: userPass.slice(at + 1) };
  }
  fs.mkdirSync(outDir, { recursive: true });
  const out = {};
  for (const name of Object.keys(VIEWS)) out[name] = await look(name, url, outDir, credentials);
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((e) => {
  process.stderr.write(`${e.stack || e}\n`);
  process.exit(1);
});
