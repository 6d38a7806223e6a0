# Seed 000's multiprocessing handler ("Threading in AWS Lambda with
# Python"), adapted only to take the URL and N from the command line and to
# print its elapsed time for lp-tune. "import urllib" alone does not load
# urllib.request on Python 3, so it is imported by name.
import sys
import time
from multiprocessing import Process
import urllib.request

URL = sys.argv[1]
N = int(sys.argv[2])


def process_function(index):
    f = urllib.request.urlopen(URL)
    print(index)


def lambda_handler(event, context):
    # TODO implement
    processes = []
    for index in range(N):
        x = Process(target=process_function, args=(index,))
        processes.append(x)
        x.start()

    for process in processes:
        process.join()


if __name__ == "__main__":
    t0 = time.perf_counter()
    lambda_handler(None, None)
    print("lp-tune-result elapsed_ms=%.3f" % ((time.perf_counter() - t0) * 1e3))
