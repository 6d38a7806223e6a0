'use strict';
/*
 * Integration tests through a real Lambda emulator (@vercel/fun): the C
 * runtime as `bootstrap`, frozen with SIGSTOP between invocations.
 *
 *   node lambda-emulator.test.js TEST_FUNCTION SEED000 COUNT_HIGH_FREQUENCY
 *
 * If the emulator is not installed this fails (exit 1) with the command
 * that installs it: it never skips. CTest label: "emulator".
 */
const assert = require('node:assert/strict');
const path = require('node:path');
const { createFunction } = require(
  path.join(__dirname, '..', 'tools', 'lambda', 'fun-driver.js'));

const [testFn, seed000, countHigh] = process.argv.slice(2);
if (!testFn || !seed000 || !countHigh) {
  console.error('usage: lambda-emulator.test.js TEST_FUNCTION SEED000 COUNT_HIGH');
  process.exit(1);
}

const cases = [];
const test = (name, fn) => cases.push({ name, fn });
const json = (r) => JSON.parse(r.payload);

async function withFunction(bootstrap, opts, body) {
  const fn = await createFunction(bootstrap, opts);
  try {
    await body(fn);
  } finally {
    await fn.destroy();
  }
}

/*
 * A loopback HTTP server of the test's own: GET /delay/<ms> (at most 5000)
 * answers 200 after <ms>, anything else 404. `stats` counts the /delay
 * requests and the most that were in flight at once, and keeps the
 * User-Agent headers seen.
 */
async function withDelayServer(body) {
  const http = require('node:http');
  const stats = { requests: 0, inFlight: 0, maxInFlight: 0, agents: new Set() };
  const server = http.createServer((req, res) => {
    const m = /^\/delay\/(\d+)$/.exec(req.url);
    if (!m) {
      res.writeHead(404);
      res.end('not found\n');
      return;
    }
    stats.requests++;
    stats.agents.add(req.headers['user-agent']);
    stats.inFlight++;
    stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
    setTimeout(() => {
      stats.inFlight--;
      res.end('delayed\n');
    }, Math.min(Number(m[1]), 5000));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    await body(`http://127.0.0.1:${server.address().port}`, stats);
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

test('many invocations in a row reuse one warm process and its pool', async () => {
  await withFunction(testFn, { memory: 256 }, async (fn) => {
    let pid = null;
    for (let i = 1; i <= 40; i++) {
      const r = await fn.invoke(JSON.stringify({ op: 'info', n: 5 }));
      assert.equal(r.error, null, r.payload);
      const p = json(r);
      assert.equal(p.sum, 15);
      assert.equal(p.invocation, i);
      /* Cumulative over the process's life: the same pool served every
       * invocation. A worker counts a task just after finishing its
       * future, so this invocation's last tasks may not be counted yet. */
      assert.ok(p.pool_completed >= 5 * (i - 1) && p.pool_completed <= 5 * i,
        `pool_completed ${p.pool_completed} at invocation ${i}`);
      assert.equal(p.memory, 256);
      assert.match(p.request_id, /^[0-9a-f-]{36}$/);
      /* fun sends Deadline-Ms "5000": not a time, so no deadline. */
      assert.equal(p.deadline_ms, 0);
      if (pid === null) pid = p.pid;
      assert.equal(p.pid, pid, 'the warm process was replaced');
    }
  });
});

test('handler error is reported and the loop goes on', async () => {
  await withFunction(testFn, {}, async (fn) => {
    const r = await fn.invoke(JSON.stringify({ op: 'fail' }));
    assert.equal(r.error, 'Handled');
    const e = json(r);
    assert.equal(e.errorType, 'Test.Failure');
    assert.match(e.errorMessage, /^asked to fail in /);
    assert.deepEqual(e.stackTrace, []);
    const ok = await fn.invoke(JSON.stringify({ op: 'info', n: 3 }));
    assert.equal(ok.error, null, ok.payload);
    assert.equal(json(ok).invocation, 2);
    const bad = await fn.invoke('not json');
    assert.equal(bad.error, 'Handled');
    assert.equal(json(bad).errorType, 'Test.BadEvent');
  });
});

test('init error is posted to /runtime/init/error', async () => {
  await withFunction(testFn, { env: { LP_TEST_INIT_FAIL: 'on purpose' } }, async (fn) => {
    const r = await fn.invoke('{}');
    assert.equal(r.error, 'Unhandled');
    const e = json(r);
    assert.equal(e.errorType, 'Runtime.TestInitError');
    assert.equal(e.errorMessage, 'init failed: on purpose');
  });
});

test('5 MB payload in and out', async () => {
  await withFunction(testFn, {}, async (fn) => {
    const pad = 'x'.repeat(5 * 1024 * 1024);
    const event = JSON.stringify({ op: 'echo', pad });
    const r = await fn.invoke(event);
    assert.equal(r.error, null);
    assert.equal(r.payload.length, event.length);
    assert.equal(r.payload, event);
  });
});

test('concurrent invocations run in several processes', async () => {
  await withFunction(testFn, {}, async (fn) => {
    const rs = await Promise.all(Array.from({ length: 8 }, () =>
      fn.invoke(JSON.stringify({ op: 'sleep', ms: 300, n: 4 }))));
    const pids = new Set();
    for (const r of rs) {
      assert.equal(r.error, null, r.payload);
      assert.equal(json(r).sum, 10);
      pids.add(json(r).pid);
    }
    assert.ok(pids.size >= 2, `only ${pids.size} process(es) served 8 concurrent invocations`);
    /* And they stay usable after being frozen. */
    for (let i = 0; i < 5; i++) {
      const r = await fn.invoke(JSON.stringify({ op: 'info', n: 2 }));
      assert.equal(r.error, null, r.payload);
    }
  });
});

test('seed 000 handler: sequential, threads, processes', async () => {
  await withFunction(seed000, {}, async (fn) => {
    for (const mode of ['sequential', 'threads', 'processes']) {
      const r = await fn.invoke(JSON.stringify({ mode, delay_ms: 100 }));
      assert.equal(r.error, null, r.payload);
      const p = json(r);
      assert.equal(p.mode, mode);
      assert.equal(p.completed, 3);
      assert.equal(p.partial, false);
      if (mode === 'sequential') assert.ok(p.elapsed_ms >= 300, `${p.elapsed_ms}`);
      else assert.ok(p.elapsed_ms >= 100, `${p.elapsed_ms}`);
    }
    // Unknown modes, fields of the wrong type, and events that are not
    // objects are refused, never run with the defaults.
    for (const event of [{ mode: 'fibers' }, { mode: 5 }, { delay_ms: 'abc' }, []]) {
      const bad = await fn.invoke(JSON.stringify(event));
      assert.equal(bad.error, 'Handled', JSON.stringify(event));
      assert.equal(json(bad).errorType, 'Handler.BadEvent', JSON.stringify(event));
    }
  });
});

test('seed 000 handler over HTTP: one at a time, or 3 at once in each concurrent way', async () => {
  await withDelayServer(async (base, stats) => {
    await withFunction(seed000, {}, async (fn) => {
      for (const mode of ['sequential', 'threads', 'processes', 'event-loop']) {
        stats.requests = 0;
        stats.maxInFlight = 0;
        const r = await fn.invoke(JSON.stringify({ mode, url: `${base}/delay/300` }));
        assert.equal(r.error, null, r.payload);
        const p = json(r);
        assert.equal(p.mode, mode);
        assert.equal(p.completed, 3);
        assert.equal(p.partial, false);
        assert.equal(stats.requests, 3, `${mode}: ${stats.requests} requests`);
        assert.equal(stats.maxInFlight, mode === 'sequential' ? 1 : 3,
          `${mode}: ${stats.maxInFlight} requests in flight at once`);
        assert.ok(p.elapsed_ms >= (mode === 'sequential' ? 900 : 300),
          `${mode}: ${p.elapsed_ms} ms`);
      }
      /* Every way fetched through the library's HTTP client. */
      assert.deepEqual([...stats.agents].filter((a) => !/^lambdapool\//.test(a)), []);
      /* Any answer is a response; a status of 400 or more is not completed. */
      const missing = await fn.invoke(JSON.stringify({ mode: 'event-loop', url: `${base}/missing` }));
      assert.equal(missing.error, null, missing.payload);
      assert.equal(json(missing).completed, 0);
      /* Sleeps give an event loop nothing to overlap. */
      const noUrl = await fn.invoke(JSON.stringify({ mode: 'event-loop', delay_ms: 10 }));
      assert.equal(noUrl.error, 'Handled');
      assert.equal(json(noUrl).errorType, 'Handler.BadEvent');
      assert.match(json(noUrl).errorMessage, /needs a url/);
    });
  });
});

test('seed 001 countHighFrequencyItem over JSON items', async () => {
  await withFunction(countHigh, {}, async (fn) => {
    const items = Array.from({ length: 200 }, (_, i) => ({ name: `i${i}`, frequency: i % 20 }));
    const r = await fn.invoke(JSON.stringify({ items }));
    assert.equal(r.error, null, r.payload);
    assert.deepEqual(json(r), { count: 90, items: 200, partial: false });
    const bare = await fn.invoke('[11, 3, 12, 10]');
    assert.deepEqual(json(bare), { count: 2, items: 4, partial: false });
    const empty = await fn.invoke('{"items": []}');
    assert.equal(json(empty).count, 0);
  });
});

test('lp-invoke CLI: event file, stdin, exit status', () => {
  const { spawnSync } = require('node:child_process');
  const fs = require('node:fs');
  const os = require('node:os');
  const cli = path.join(__dirname, '..', 'tools', 'lambda', 'lp-invoke.js');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lp-cli-'));
  const file = path.join(dir, 'event.json');
  try {
    fs.writeFileSync(file, JSON.stringify({ op: 'info', n: 4 }));
    let r = spawnSync(process.execPath, [cli, '-n', '3', testFn, file], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 4);
    assert.equal(JSON.parse(JSON.parse(lines[0]).payload).sum, 10);
    assert.equal(lines[3], 'invocations: 3 ok: 3 errors: 0');
    r = spawnSync(process.execPath, [cli, '-q', testFn, '-'],
      { input: '{"op":"fail"}', encoding: 'utf8' });
    assert.equal(r.status, 2, r.stderr);
    assert.equal(r.stdout.trim(), 'invocations: 1 ok: 0 errors: 1');
    r = spawnSync(process.execPath, [cli, '-n', 'x', testFn], { encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /not an integer/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

(async () => {
  let failed = 0;
  for (const c of cases) {
    const t0 = Date.now();
    try {
      await c.fn();
      console.log(`ok ${c.name} (${Date.now() - t0} ms)`);
    } catch (e) {
      failed++;
      console.log(`FAIL ${c.name}: ${e.stack || e.message}`);
    }
  }
  console.log(`${cases.length - failed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
})().catch((e) => { console.error(e); process.exit(1); });
