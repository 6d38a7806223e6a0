'use strict';
/*
 * Drives @vercel/fun, a local Lambda emulator, for lp-invoke and the
 * integration tests. fun runs `bootstrap` from the function's directory
 * (Runtime "provided") against its own Runtime API server on 127.0.0.1,
 * keeps up to 10 processes warm, and freezes each with SIGSTOP between
 * invocations (SIGCONT to thaw).
 *
 * The emulator comes from tools/node (npm install there; scripts/
 * install-deps.sh does it). When it is missing this module throws with the
 * command that installs it: callers must fail, never skip.
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const NODE_DIR = path.resolve(__dirname, '..', 'node');

/*
 * fun copies its `provided` runtime wrapper into a cache directory on first
 * use; two processes doing that at once (parallel tests) could exec a file
 * being written. Each process gets a cache of its own unless
 * LP_FUN_SHARED_CACHE is set.
 */
function privateCache() {
  if (process.env.LP_FUN_SHARED_CACHE) return;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lp-fun-cache-'));
  process.env.XDG_CACHE_HOME = dir;
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
}

function loadFun() {
  const modDir = path.join(NODE_DIR, 'node_modules', '@vercel', 'fun');
  if (!fs.existsSync(modDir)) {
    throw new Error(
      `@vercel/fun is not installed in ${NODE_DIR}/node_modules: run ` +
      `scripts/install-deps.sh (or: cd ${NODE_DIR} && npm ci)`);
  }
  privateCache();
  return require(modDir);
}

/*
 * Makes a function directory for `bootstrapOrDir`: a directory holding a
 * `bootstrap` is used as is (an unpacked function.zip); an executable file
 * is linked as `bootstrap` into a fresh temporary directory.
 */
function functionDir(bootstrapOrDir) {
  const st = fs.statSync(bootstrapOrDir);
  if (st.isDirectory()) {
    if (!fs.existsSync(path.join(bootstrapOrDir, 'bootstrap')))
      throw new Error(`${bootstrapOrDir} has no bootstrap`);
    return { dir: path.resolve(bootstrapOrDir), cleanup() {} };
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lp-fn-'));
  fs.symlinkSync(path.resolve(bootstrapOrDir), path.join(dir, 'bootstrap'));
  return {
    dir,
    cleanup() { fs.rmSync(dir, { recursive: true, force: true }); },
  };
}

/*
 * Starts an emulated function. opts: {memory, timeout, env: {K: V}, name}.
 * Returns {invoke(payloadString) -> {status, error, payload}, destroy()}.
 */
async function createFunction(bootstrapOrDir, opts = {}) {
  const fun = loadFun();
  const fd = functionDir(bootstrapOrDir);
  const fn = await fun.createFunction({
    Code: { Directory: fd.dir },
    Handler: 'bootstrap',
    Runtime: 'provided',
    FunctionName: opts.name || 'lambdapool-function',
    MemorySize: opts.memory || 128,
    Timeout: opts.timeout || 30,
    Environment: { Variables: opts.env || {} },
  });
  return {
    async invoke(payload) {
      const r = await fn.invoke({
        InvocationType: 'RequestResponse',
        Payload: payload,
      });
      return {
        status: r.StatusCode,
        error: r.FunctionError || null,
        payload: String(r.Payload),
      };
    },
    async destroy() {
      await fn.destroy();
      fd.cleanup();
    },
  };
}

module.exports = { createFunction, loadFun, NODE_DIR };
