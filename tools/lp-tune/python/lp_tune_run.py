# lp-tune's launcher for the seeds' Python programs:
#   python3 lp_tune_run.py SETTLE_MS PROGRAM.py URL N
# Imports what the programs import, prints "lp-tune-ready" and waits for a
# line on stdin (lp-tune moves this process into the throttled cgroup
# meanwhile: start-up is Lambda's INIT, not the invocation), idles SETTLE_MS
# ms so that the CPU quota is fresh, then runs PROGRAM.py as __main__ with
# argv URL N. The program itself times its handler and prints the result;
# then this process exits at once, skipping the interpreter's teardown
# (slow under a 128 MB CPU share, and not part of any invocation).
import os
import runpy
import sys
import time

import concurrent.futures  # noqa: F401  (imported by the programs)
import multiprocessing  # noqa: F401
import threading  # noqa: F401
import urllib.request  # noqa: F401

settle_ms = int(sys.argv[1])
program = sys.argv[2]
sys.argv = [program] + sys.argv[3:]
print("lp-tune-ready", flush=True)
sys.stdin.readline()
if settle_ms > 0:
    time.sleep(settle_ms / 1000.0)
runpy.run_path(program, run_name="__main__")
sys.stdout.flush()
os._exit(0)
