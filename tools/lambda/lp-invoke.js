#!/usr/bin/env node
'use strict';
/*
 * lp-invoke: invoke a Lambda handler locally through a real Lambda emulator
 * (@vercel/fun): the same Runtime API protocol, process freezing between
 * invocations, init errors, function errors.
 *
 *   lp-invoke [options] BOOTSTRAP|DIR [EVENT_FILE|-]
 *     BOOTSTRAP   a built handler executable (or a directory with a
 *                 `bootstrap`, e.g. an unzipped function.zip)
 *     EVENT_FILE  the event (JSON); `-` reads stdin; default {}
 *   -e, --event JSON     the event inline
 *   -n, --count N        invoke N times in a row (default 1)
 *   -c, --concurrency C  keep C invocations in flight (default 1; fun runs
 *                        up to 10 processes)
 *   -m, --memory MB      AWS_LAMBDA_FUNCTION_MEMORY_SIZE (default 128)
 *   --env K=V            extra environment variable (repeatable)
 *   -q, --quiet          print only the summary line
 *
 * Prints each result as a JSON line {"status", "error", "payload"}, then
 * "invocations: N ok: K errors: E". Exit status 0 when every invocation
 * succeeded, 2 if any returned a function error, 1 on a usage or emulator
 * failure.
 */
const fs = require('node:fs');
const { createFunction } = require('./fun-driver');

function usage(msg) {
  if (msg) console.error(`lp-invoke: ${msg}`);
  console.error('usage: lp-invoke [-e JSON] [-n N] [-c C] [-m MB] [--env K=V] [-q] BOOTSTRAP|DIR [EVENT_FILE|-]');
  process.exit(1);
}

function parseArgs(argv) {
  const o = { count: 1, concurrency: 1, memory: 128, env: {}, quiet: false, pos: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => { if (i + 1 >= argv.length) usage(`${a} needs a value`); return argv[++i]; };
    const int = (v, lo, hi) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < lo || n > hi) usage(`${a}: ${v} is not an integer in ${lo}..${hi}`);
      return n;
    };
    if (a === '-e' || a === '--event') o.event = val();
    else if (a === '-n' || a === '--count') o.count = int(val(), 1, 1000000);
    else if (a === '-c' || a === '--concurrency') o.concurrency = int(val(), 1, 10);
    else if (a === '-m' || a === '--memory') o.memory = int(val(), 128, 10240);
    else if (a === '--env') {
      const kv = val(); const eq = kv.indexOf('=');
      if (eq < 1) usage(`--env wants K=V, got ${kv}`);
      o.env[kv.slice(0, eq)] = kv.slice(eq + 1);
    } else if (a === '-q' || a === '--quiet') o.quiet = true;
    else if (a === '-h' || a === '--help') usage();
    else if (a.startsWith('-') && a !== '-') usage(`unknown option ${a}`);
    else o.pos.push(a);
  }
  if (o.pos.length < 1 || o.pos.length > 2) usage();
  return o;
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  let event = o.event;
  if (event === undefined && o.pos[1] !== undefined)
    event = fs.readFileSync(o.pos[1] === '-' ? 0 : o.pos[1], 'utf8');
  if (event === undefined) event = '{}';

  const fn = await createFunction(o.pos[0], { memory: o.memory, env: o.env });
  let next = 0, ok = 0, errors = 0;
  try {
    const worker = async () => {
      while (next < o.count) {
        next++;
        const r = await fn.invoke(event);
        if (r.error) errors++; else ok++;
        if (!o.quiet) console.log(JSON.stringify(r));
      }
    };
    await Promise.all(Array.from({ length: o.concurrency }, worker));
  } finally {
    await fn.destroy();
  }
  console.log(`invocations: ${ok + errors} ok: ${ok} errors: ${errors}`);
  process.exit(errors ? 2 : 0);
}

main().catch((e) => { console.error(`lp-invoke: ${e.message}`); process.exit(1); });
