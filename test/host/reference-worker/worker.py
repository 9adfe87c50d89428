#!/usr/bin/env python3
"""The reference worker of docs/worker-contract.md: a CPU job whose speed depends on its threads.

Contract it honours:
- REDIS_URL from the env (a secret: never printed); jobs from the Redis list JOB_QUEUE (default
  "jobs", popped oldest first with BRPOP), answers LPUSHed to JOB_RESULTS (default "results").
- Threads: a pool of exactly OMP_NUM_THREADS threads does the job's matrix products (numpy releases
  the GIL in them; Debian's reference BLAS is single-threaded), so a job of `work` products takes
  about work / threads time on free cores.
- Stop signal (SIGTERM): no new job; the job in hand is abandoned at its next product and pushed back
  to the head of the queue (RPUSH), then the worker exits 0, well within its drain time.
- Health: the heartbeat file $HOME/healthy (HOME is a writable path), touched at every loop turn;
  `worker.py --health` exits 0 while it is fresh.
- Memory: nothing kept between jobs.

A job is JSON: {"id": "<id>", "work": <products>}; the answer is JSON {"id", "worker", "threads", "sum"}.

Deliberately broken variants, for check-image's own tests (`--broken <kind>`):
  threads   ignores OMP_NUM_THREADS: a pool of 16 threads, sized for the developer's 16-core box
  sigterm   ignores its stop signal: Docker kills it after the stop timeout, the job in hand is lost
  leak      keeps 16 MiB of every job's scratch memory: it grows until the kernel OOM-kills it
"""
import json
import os
import signal
import sys
import time

HEARTBEAT = os.path.join(os.environ.get("HOME", "/tmp"), "healthy")


def health() -> int:
    try:
        return 0 if time.time() - os.stat(HEARTBEAT).st_mtime < 10 else 1
    except OSError:
        return 1


def main() -> int:
    broken = sys.argv[2] if len(sys.argv) > 2 and sys.argv[1] == "--broken" else None
    # numpy only here: the health command stays cheap.
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np
    import redis

    threads = 16 if broken == "threads" else max(1, int(os.environ.get("OMP_NUM_THREADS", "1")))
    queue = os.environ.get("JOB_QUEUE", "jobs")
    results = os.environ.get("JOB_RESULTS", "results")
    name = os.environ.get("WORKER_NAME", "reference")
    stopping = False

    def on_stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, signal.SIG_IGN if broken == "sigterm" else on_stop)
    signal.signal(signal.SIGINT, on_stop)

    r = redis.Redis.from_url(os.environ["REDIS_URL"], socket_timeout=10)
    pool = ThreadPoolExecutor(max_workers=threads)
    rng = np.random.default_rng(0)
    a = rng.standard_normal((128, 128))
    b = rng.standard_normal((128, 128))
    leaked = []

    def products(count: int) -> float:
        total = 0.0
        for _ in range(count):
            if stopping:
                raise InterruptedError
            total += float((a @ b)[0, 0])
        return total

    while not stopping:
        with open(HEARTBEAT, "w", encoding="ascii") as f:
            f.write(str(time.time()))
        popped = r.brpop([queue], timeout=1)
        if popped is None:
            continue
        raw = popped[1]
        job = json.loads(raw)
        work = int(job.get("work", 10))
        chunks = [work // threads + (1 if i < work % threads else 0) for i in range(threads)]
        try:
            total = sum(f.result() for f in [pool.submit(products, n) for n in chunks])
        except InterruptedError:
            r.rpush(queue, raw)  # back at the head: the next worker takes it first
            break
        if broken == "leak":
            leaked.append(np.ones(16 * 1024 * 1024 // 8))
        r.lpush(results, json.dumps({"id": job.get("id"), "worker": name, "threads": threads, "sum": round(total, 3)}))
    pool.shutdown(wait=True)
    return 0


if __name__ == "__main__":
    sys.exit(health() if sys.argv[1:2] == ["--health"] else main())
