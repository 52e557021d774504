// `npm run console:screenshots [-- --out docs/console] [--url <console url>] [--conversation <uuid>]`:
// the screenshots docs/console.md shows, taken in Debian's Chromium from the demo's conversations.
// Run `npm run demo` first. Without --url it starts `npm run console` itself on a free port (with a
// password made for the run) and stops it afterwards; with --url it signs in to that console with
// CONSOLE_PASSWORD.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { launchChromium, takeConsoleScreenshots } from './console-browser.js';

const USAGE = 'usage: npm run console:screenshots -- [--out <dir>] [--url <http://host:port>] [--conversation <uuid>] [--window 24h|7d]';
const say = (line = '') => process.stdout.write(`${line}\n`);

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: process.argv.slice(2),
      options: { out: { type: 'string', default: 'docs/console' }, url: { type: 'string' }, conversation: { type: 'string' }, window: { type: 'string', default: '7d' } },
      strict: true,
    }));
  } catch (err) {
    console.error(`${(err as Error).message}\n${USAGE}`);
    return 64;
  }
  if (values.window !== '24h' && values.window !== '7d') {
    console.error(`--window must be 24h or 7d\n${USAGE}`);
    return 64;
  }
  if (values.url && !process.env.CONSOLE_PASSWORD) {
    console.error('--url needs the console\'s password in CONSOLE_PASSWORD');
    return 64;
  }

  let target: { url: string; password: string; child?: ChildProcess };
  if (values.url) {
    target = { url: values.url.replace(/\/(console\/?)?$/, ''), password: process.env.CONSOLE_PASSWORD! };
  } else {
    const started = await startConsole();
    if (typeof started === 'number') return started;
    target = started;
  }

  const outDir = resolve(values.out);
  const browser = await launchChromium();
  try {
    const files = await takeConsoleScreenshots(browser, {
      baseUrl: target.url,
      password: target.password,
      outDir,
      conversationId: values.conversation,
      window: values.window,
    });
    for (const file of Object.values(files)) say(`  ${relative(process.cwd(), file)}`);
    say('Look at each one before committing it: it shows whatever the database holds.');
    return 0;
  } finally {
    await browser.close();
    if (target.child) await stop(target.child);
  }
}

/** `node dist/scripts/console.js --port 0` over the demo's database; resolves once it prints its URL. */
async function startConsole(): Promise<{ url: string; password: string; child: ChildProcess } | number> {
  const password = process.env.CONSOLE_PASSWORD || randomBytes(12).toString('base64url');
  const script = join(dirname(fileURLToPath(import.meta.url)), 'console.js');
  const child = spawn(process.execPath, [script, '--port', '0'], { env: { ...process.env, CONSOLE_PASSWORD: password }, stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  const url = await new Promise<string | undefined>((done) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /^Console: (http:\/\/\S+)\/console$/m.exec(output);
      if (match) done(match[1]);
    });
    child.on('exit', () => done(undefined));
  });
  if (!url) {
    process.stdout.write(output);
    say('The console did not start (see above); run npm run demo first if it found no demo database.');
    return 2;
  }
  say(`Console: ${url}/console (over the demo's database)`);
  return { url, password, child };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((done) => child.on('exit', done));
  child.kill('SIGINT');
  await exited;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(`console:screenshots failed: ${(err as Error).stack ?? err}`);
    process.exit(1);
  },
);
