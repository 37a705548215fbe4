#!/usr/bin/env python3
"""Times Eureka registry reads for bench/eureka-bench.sh: N sequential GETs on one keep-alive
connection, as a client fetches (Accept: application/json, Accept-Encoding: gzip), from the
request being sent to the last body byte read. With --change-each, each GET is preceded by one
registry change (a status override toggled on one of the benchmark's instances), so every read
sees a new versions__delta and cannot be served from a body rendered for an earlier version.
Prints one JSON line: {"path", "n", "p50_ms", "p90_ms", "p99_ms", "max_ms", "bytes", "status"}.
Only ever talks to the address it is given (the benchmark passes 127.0.0.1)."""

import argparse
import http.client
import json
import random
import sys
import time


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--path", required=True)
    p.add_argument("--n", type=int, default=40)
    p.add_argument("--pause", type=float, default=0.2, help="seconds between GETs")
    p.add_argument("--change-each", action="store_true")
    p.add_argument("--apps", type=int, default=1000)
    p.add_argument("--per-app", type=int, default=100)
    p.add_argument("--prefix", default="/eureka")
    a = p.parse_args()
    conn = http.client.HTTPConnection(a.host, a.port, timeout=30)
    headers = {"Accept": "application/json", "Accept-Encoding": "gzip"}
    times, sizes = [], []
    rnd = random.Random(7)
    toggled = {}
    for _ in range(a.n):
        if a.change_each:
            app, i = rnd.randrange(a.apps), rnd.randrange(a.per_app)
            key = f"BENCH-{app:04}/bench-{app:04}-{i:03}"
            if toggled.pop(key, False):
                conn.request("DELETE", f"{a.prefix}/apps/{key}/status?value=UP")
            else:
                conn.request("PUT", f"{a.prefix}/apps/{key}/status?value=OUT_OF_SERVICE")
                toggled[key] = True
            r = conn.getresponse()
            r.read()
            if r.status != 200:
                sys.exit(f"status change on {key} answered {r.status}")
        t0 = time.perf_counter()
        conn.request("GET", a.path, headers=headers)
        r = conn.getresponse()
        body = r.read()
        times.append((time.perf_counter() - t0) * 1000)
        sizes.append(len(body))
        if r.status != 200:
            sys.exit(f"GET {a.path} answered {r.status}: {body[:200]!r}")
        if r.getheader("Content-Encoding") != "gzip":
            sys.exit(f"GET {a.path} with Accept-Encoding: gzip was not gzipped")
        time.sleep(a.pause)
    # Leave no override behind.
    for key in toggled:
        conn.request("DELETE", f"{a.prefix}/apps/{key}/status?value=UP")
        conn.getresponse().read()
    s = sorted(times)

    def pct(q):
        return round(s[min(len(s) - 1, int(q * len(s)))], 2)

    print(json.dumps({"path": a.path, "n": len(s), "p50_ms": pct(0.5), "p90_ms": pct(0.9),
                      "p99_ms": pct(0.99), "max_ms": round(s[-1], 2), "bytes": sizes[-1],
                      "change_each": a.change_each}))


if __name__ == "__main__":
    main()
