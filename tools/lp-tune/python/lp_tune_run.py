# lp-tune's launcher for the seeds' Python programs:
#   python3 lp_tune_run.py SETTLE_MS WARM_URL PROGRAM.py URL N
# Imports what the programs import. Unless WARM_URL is "-", runs PROGRAM.py
# once, untimed and with its output discarded, against WARM_URL (no delay),
# as an earlier invocation of a warm container would have. Then prints
# "lp-tune-ready" and waits for a line on stdin (lp-tune moves this process
# into the throttled cgroup meanwhile: start-up is Lambda's INIT, not the
# invocation), idles SETTLE_MS ms so that the CPU quota is fresh, then runs
# PROGRAM.py as __main__ with argv URL N. The program itself times its
# handler and prints the result; then this process exits at once, skipping
# the interpreter's teardown (slow under a 128 MB CPU share, and not part of
# any invocation), with status 1 if a task failed in a thread or a child
# process.
import contextlib
import os
import runpy
import sys
import time

import concurrent.futures  # noqa: F401  (imported by the programs)
import multiprocessing  # noqa: F401
import threading  # noqa: F401
import urllib.request  # noqa: F401

# A request that fails in a thread or a child process does not stop the
# seeds' handlers; count such failures so that lp-tune reports the run as
# failed instead of timing a handler that did not do its work.
failures = []
_thread_hook = threading.excepthook


def _count_thread_failure(args):
    failures.append(args.exc_type)
    _thread_hook(args)


_process_join = multiprocessing.Process.join


def _join_and_check(self, *args, **kwargs):
    _process_join(self, *args, **kwargs)
    if self.exitcode not in (0, None):
        failures.append(self.exitcode)


threading.excepthook = _count_thread_failure
multiprocessing.Process.join = _join_and_check

settle_ms = int(sys.argv[1])
warm_url = sys.argv[2]
program = sys.argv[3]
args = sys.argv[4:]
if warm_url != "-":
    sys.argv = [program, warm_url] + args[1:]
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        runpy.run_path(program, run_name="__main__")
    if failures:
        sys.stderr.write("lp-tune: warm-up invocation: %d task(s) failed\n"
                         % len(failures))
        sys.stderr.flush()
        os._exit(1)
sys.argv = [program] + args
print("lp-tune-ready", flush=True)
sys.stdin.readline()
if settle_ms > 0:
    time.sleep(settle_ms / 1000.0)
runpy.run_path(program, run_name="__main__")
sys.stdout.flush()
if failures:
    sys.stderr.write("lp-tune: %d task(s) failed\n" % len(failures))
    sys.stderr.flush()
os._exit(1 if failures else 0)
