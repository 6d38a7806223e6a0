# Seed 001's ThreadPoolExecutor pattern ("AWS Lambda And Multi Threading
# Using Python": max_workers=4, submit, as_completed in a with-block),
# adapted only to take the URL and N from the command line, to make its
# task the same request as seed 000's, and to print its elapsed time for
# lp-tune.
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor, as_completed

URL = sys.argv[1]
N = int(sys.argv[2])


# task that is performed in parallel
def task(item, index):
    f = urllib.request.urlopen(item)
    return f.status == 200, index


# multi-threading function
def countHighFrequencyItem(list_of_items):
    if len(list_of_items) == 0:
        return 0
    all_tasks = []
    with ThreadPoolExecutor(max_workers=4) as executor:
        for item_index in range(len(list_of_items)):
            all_tasks.append(
                executor.submit(
                    task,
                    list_of_items[item_index],
                    item_index))
        temp_res = list(range(len(list_of_items)))
        # process completed tasks
        for future in as_completed(all_tasks):
            tooFrequent, index = future.result()
            temp_res[index] = tooFrequent
    count = 0
    for is_frequent in temp_res:
        if is_frequent:
            count += 1
    return count


def lambda_handler(event, context):
    return countHighFrequencyItem([URL] * N)


if __name__ == "__main__":
    t0 = time.perf_counter()
    ok = lambda_handler(None, None)
    print("lp-tune-result elapsed_ms=%.3f ok=%d failed=%d"
          % ((time.perf_counter() - t0) * 1e3, ok, N - ok))
