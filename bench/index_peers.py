#!/usr/bin/python3
"""index_peers.py - FAISS and hnswlib on the gallery benchmark's data (bench/index_run.sh).

Reads what `index_bench --write DIR` wrote (DIR/base.f32, queries.f32, truth.i64, meta.txt: the
very same vectors, queries and exact top-1 our C benchmark uses; face id = row) and measures, as
index_bench does, on Debian's python3-faiss and python3-hnswlib:
  faiss IndexFlatIP, faiss IndexHNSWFlat (inner product), hnswlib Index(space="ip"),
printing the same tab-separated rows:
  row  impl  index  mode  threads  qps  p99_ms  recall1  bytes_per_vec  build_s  param
       recall1_mated  recall1_strangers
mode "single": one query per call (a Python loop over search(q[i:i+1]); the per-call Python
overhead, a few microseconds, is included); "batch": all queries in one call (FAISS's own
blocking with BLAS for IndexFlatIP; hnswlib's knn_query over num_threads threads).  Threads:
faiss.omp_set_num_threads / hnswlib num_threads.  Builds run on 1 thread like ours.  Each
measurement runs --reps times (as index_bench): qps is the median, p99 over all the calls.
bytes_per_vec: growth of resident memory over the build, per vector.

usage: index_peers.py DIR [--m 16] [--efc 200] [--ef 16,24,... | --serve] [--flat-nq N]
                        [--reps R] [--which LIST]
--serve: the graph indexes' efSearch values come from stdin (see serve()), not --ef.
"""
import argparse
import os
import sys
import time

import numpy as np


def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGESIZE")


def row(impl, index, mode, threads, qps, p99_ms, rec, bpv, build_s, param):
    print("row\t%s\t%s\t%s\t%d\t%.2f\t%.3f\t%.4f\t%.0f\t%.2f\t%s\t%.4f\t%.4f"
          % (impl, index, mode, threads, qps, p99_ms, rec[0], bpv, build_s, param, rec[1], rec[2]),
          flush=True)


REPS = 3


def single(search, q, n):
    """One query per call over the first n queries, REPS times: (median qps, p99 ms over all the
    calls, top-1 ids)."""
    lat = np.empty((REPS, n))
    top = np.empty(n, dtype=np.int64)
    qps = []
    for r in range(REPS):
        t0 = time.perf_counter()
        for i in range(n):
            s = time.perf_counter()
            top[i] = search(q[i:i + 1])
            lat[r, i] = time.perf_counter() - s
        qps.append(n / (time.perf_counter() - t0))
    return float(np.median(qps)), 1e3 * float(np.percentile(lat, 99, method="higher")), top


def batch(search, q):
    """All queries in one call, REPS times: (median qps, top-1 ids)."""
    qps = []
    for r in range(REPS):
        t0 = time.perf_counter()
        top = search(q)
        qps.append(len(q) / (time.perf_counter() - t0))
    return float(np.median(qps)), top


def recall(top, truth):
    """recall@1 over all queries, the mated ones and the strangers (index_bench makes every 4th
    query, i % 4 == 3, a stranger)."""
    hit = top == truth[:len(top)]
    stranger = np.arange(len(top)) % 4 == 3
    return (float(np.mean(hit)), float(np.mean(hit[~stranger])) if (~stranger).any() else 0.0,
            float(np.mean(hit[stranger])) if stranger.any() else 0.0)


def faiss_flat(faiss, base, q, truth, a):
    r0, t0 = rss(), time.perf_counter()
    faiss.omp_set_num_threads(1)
    idx = faiss.IndexFlatIP(base.shape[1])
    idx.add(base)
    build_s, bpv = time.perf_counter() - t0, (rss() - r0) / len(base)
    nq = min(a.flat_nq, len(q))
    for threads in (1, 2):
        faiss.omp_set_num_threads(threads)
        qps, p99, top = single(lambda x: idx.search(x, 1)[1][0, 0], q, nq)
        row("faiss", "flat", "single", threads, qps, p99, recall(top, truth), bpv, build_s, "-")
        qps, top = batch(lambda x: idx.search(x, 1)[1][:, 0], q)
        row("faiss", "flat", "batch", threads, qps, 0.0, recall(top, truth), bpv, build_s, "-")
    del idx


def faiss_hnsw(faiss, base, q, truth, a):
    """Builds faiss IndexHNSWFlat; returns a function that prints its rows at one efSearch."""
    faiss.omp_set_num_threads(1)
    r0, t0 = rss(), time.perf_counter()
    idx = faiss.IndexHNSWFlat(base.shape[1], a.m, faiss.METRIC_INNER_PRODUCT)
    idx.hnsw.efConstruction = a.efc
    idx.add(base)
    build_s, bpv = time.perf_counter() - t0, (rss() - r0) / len(base)

    def at_ef(ef):
        idx.hnsw.efSearch = ef
        param = "M=%d,efC=%d,ef=%d" % (a.m, a.efc, ef)
        for threads in (1, 2):
            faiss.omp_set_num_threads(threads)
            if threads == 1:
                qps, p99, top = single(lambda x: idx.search(x, 1)[1][0, 0], q, len(q))
                row("faiss", "hnsw", "single", 1, qps, p99, recall(top, truth), bpv, build_s,
                    param)
            qps, top = batch(lambda x: idx.search(x, 1)[1][:, 0], q)
            row("faiss", "hnsw", "batch", threads, qps, 0.0, recall(top, truth), bpv, build_s,
                param)
    return at_ef


def hnswlib_run(hnswlib, base, q, truth, a):
    """Builds an hnswlib index; returns a function that prints its rows at one efSearch."""
    r0, t0 = rss(), time.perf_counter()
    idx = hnswlib.Index(space="ip", dim=base.shape[1])
    idx.init_index(max_elements=len(base), ef_construction=a.efc, M=a.m, random_seed=100)
    idx.add_items(base, np.arange(len(base)), num_threads=1)
    build_s, bpv = time.perf_counter() - t0, (rss() - r0) / len(base)

    def at_ef(ef):
        idx.set_ef(ef)
        param = "M=%d,efC=%d,ef=%d" % (a.m, a.efc, ef)
        for threads in (1, 2):
            if threads == 1:
                qps, p99, top = single(lambda x: idx.knn_query(x, k=1, num_threads=1)[0][0, 0],
                                       q, len(q))
                row("hnswlib", "hnsw", "single", 1, qps, p99, recall(top, truth), bpv, build_s,
                    param)
            qps, top = batch(lambda x: idx.knn_query(x, k=1, num_threads=threads)[0][:, 0], q)
            row("hnswlib", "hnsw", "batch", threads, qps, 0.0, recall(top, truth), bpv, build_s,
                param)
    return at_ef


def serve(runners):
    """--serve: "ready" once built, then for each stdin line "ef N" the rows at efSearch N of
    every graph index and a line "done" (index_run.sh alternates these with index_bench's)."""
    print("ready", flush=True)
    for line in sys.stdin:
        parts = line.split()
        if len(parts) == 2 and parts[0] == "ef" and parts[1].isdigit():
            for at_ef in runners:
                at_ef(int(parts[1]))
        else:
            print("# index_peers: bad request: %r" % line, file=sys.stderr)
        print("done", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--m", type=int, default=16)
    ap.add_argument("--efc", type=int, default=200)
    ap.add_argument("--ef", default="16,32,64,128,256,512,1024,2048")
    ap.add_argument("--flat-nq", type=int, default=1000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--which", default="faiss-flat,faiss-hnsw,hnswlib")
    ap.add_argument("--serve", action="store_true")
    a = ap.parse_args()
    global REPS
    REPS = max(1, a.reps)
    meta = dict(line.split() for line in open(os.path.join(a.dir, "meta.txt")))
    n, dim = int(meta["n"]), int(meta["dim"])
    base = np.fromfile(os.path.join(a.dir, "base.f32"), dtype=np.float32).reshape(n, dim)
    q = np.fromfile(os.path.join(a.dir, "queries.f32"), dtype=np.float32).reshape(-1, dim)
    truth = np.fromfile(os.path.join(a.dir, "truth.i64"), dtype=np.int64)
    efs = [int(x) for x in a.ef.split(",")]
    which = a.which.split(",")
    missing = []
    try:
        import faiss
    except ImportError:
        faiss = None
        missing.append("python3-faiss")
    try:
        import hnswlib
    except ImportError:
        hnswlib = None
        missing.append("python3-hnswlib")
    if missing:
        print("# index_peers: missing Debian packages: %s (apt-get install %s)"
              % (", ".join(missing), " ".join(missing)), file=sys.stderr)
    if faiss is not None and "faiss-flat" in which:
        print("# index_peers: faiss IndexFlatIP ...", file=sys.stderr)
        faiss_flat(faiss, base, q, truth, a)
    runners = []
    if faiss is not None and "faiss-hnsw" in which:
        print("# index_peers: faiss IndexHNSWFlat ...", file=sys.stderr)
        runners.append(faiss_hnsw(faiss, base, q, truth, a))
    if hnswlib is not None and "hnswlib" in which:
        print("# index_peers: hnswlib ...", file=sys.stderr)
        runners.append(hnswlib_run(hnswlib, base, q, truth, a))
    if a.serve:
        serve(runners)
    else:
        for ef in efs:
            for at_ef in runners:
                at_ef(ef)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
