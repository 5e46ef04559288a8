// index_hnswlib.cpp - hnswlib compiled for this CPU, the strongest form of the HNSW peer of
// bench/index_run.sh (which builds it with `g++ -O3 -march=native` when Debian's libhnswlib-dev
// is installed).  Debian's python3-hnswlib is built for baseline x86-64: its inner product uses
// SSE only, and every query pays a Python call.  This one uses the same hnswlib 0.6.2 headers with
// the AVX-512/AVX2 distance functions this CPU has, called from C++, so that a comparison of our
// HNSW with hnswlib is not a comparison of instruction sets.
//
// It reads what `index_bench --write DIR` wrote (DIR/meta.txt, base.f32, queries.f32, truth.i64;
// face id = row), builds HierarchicalNSW<float> over InnerProductSpace on one thread (M, efC, seed
// 100 as index_peers.py), prints "ready", then answers each stdin line "ef N" with the rows of
// index_peers.py's hnswlib (single 1 thread, batch 1 and 2 threads; impl "hnswlib-n") and "done".
//
//   index_hnswlib DIR M EFC REPS
#include <hnswlib/hnswlib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace
{

double now()
{
    using clock = std::chrono::steady_clock;
    return std::chrono::duration<double>(clock::now().time_since_epoch()).count();
}

double rss()
{
    long pages = 0, res = 0;
    std::ifstream f("/proc/self/statm");
    f >> pages >> res;
    return static_cast<double>(res) * static_cast<double>(sysconf(_SC_PAGESIZE));
}

template <class T> std::vector<T> read_all(const std::string &path, size_t count)
{
    std::vector<T> v(count);
    std::ifstream f(path, std::ios::binary);
    if (!f.read(reinterpret_cast<char *>(v.data()),
                static_cast<std::streamsize>(count * sizeof(T))))
        throw std::runtime_error("cannot read " + path);
    return v;
}

double median(std::vector<double> x)
{
    std::sort(x.begin(), x.end());
    size_t n = x.size();
    return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

struct Bench {
    size_t n = 0, dim = 0, nq = 0;
    int m = 16, efc = 200, reps = 3;
    std::vector<float> base, q;
    std::vector<int64_t> truth, top;
    hnswlib::HierarchicalNSW<float> *idx = nullptr;
    double build_s = 0, bpv = 0;

    int64_t top1(size_t i) const
    {
        auto r = idx->searchKnn(q.data() + i * dim, 1);
        return r.empty() ? -1 : static_cast<int64_t>(r.top().second);
    }

    // Queries [0, nq) over `threads` threads, one search call each: the q/s.
    double run(int threads, std::vector<double> *lat)
    {
        double t0 = now();
        auto part = [&](size_t a, size_t b) {
            for (size_t i = a; i < b; i++) {
                double s = now();
                top[i] = top1(i);
                if (lat)
                    (*lat)[i] = now() - s;
            }
        };
        std::vector<std::thread> pool;
        for (int t = 1; t < threads; t++)
            pool.emplace_back(part, nq * t / threads, nq * (t + 1) / threads);
        part(0, nq / threads);
        for (auto &th : pool)
            th.join();
        return static_cast<double>(nq) / (now() - t0);
    }

    void row(const char *mode, int threads, double qps, double p99_ms, int ef)
    {
        size_t hit[2] = {0, 0}, total[2] = {0, 0};
        for (size_t i = 0; i < nq; i++) {
            int stranger = i % 4 == 3; // index_bench's rule
            hit[stranger] += top[i] == truth[i];
            total[stranger]++;
        }
        std::printf(
            "row\thnswlib-n\thnsw\t%s\t%d\t%.2f\t%.3f\t%.4f\t%.0f\t%.2f\tM=%d,efC=%d,ef=%d\t"
            "%.4f\t%.4f\n",
            mode, threads, qps, p99_ms, double(hit[0] + hit[1]) / double(nq), bpv, build_s, m, efc,
            ef, total[0] ? double(hit[0]) / double(total[0]) : 0.0,
            total[1] ? double(hit[1]) / double(total[1]) : 0.0);
        std::fflush(stdout);
    }

    void at_ef(int ef)
    {
        idx->setEf(static_cast<size_t>(ef));
        std::vector<double> lat(nq), all, qps;
        for (int r = 0; r < reps; r++) {
            qps.push_back(run(1, &lat));
            all.insert(all.end(), lat.begin(), lat.end());
        }
        std::sort(all.begin(), all.end());
        size_t k = static_cast<size_t>(std::ceil(0.99 * static_cast<double>(all.size())));
        row("single", 1, median(qps), 1e3 * all[k ? k - 1 : 0], ef);
        for (int threads = 1; threads <= 2; threads++) {
            qps.clear();
            for (int r = 0; r < reps; r++)
                qps.push_back(run(threads, nullptr));
            row("batch", threads, median(qps), 0.0, ef);
        }
    }
};

} // namespace

int main(int argc, char **argv)
{
    if (argc != 5) {
        std::fprintf(stderr, "usage: index_hnswlib DIR M EFC REPS\n");
        return 2;
    }
    std::string dir = argv[1];
    Bench b;
    b.m = static_cast<int>(std::strtol(argv[2], nullptr, 10));
    b.efc = static_cast<int>(std::strtol(argv[3], nullptr, 10));
    b.reps = std::max(1, static_cast<int>(std::strtol(argv[4], nullptr, 10)));
    std::map<std::string, size_t> meta;
    std::ifstream mf(dir + "/meta.txt");
    std::string key;
    size_t value;
    while (mf >> key >> value)
        meta[key] = value;
    b.n = meta["n"];
    b.dim = meta["dim"];
    b.nq = meta["nq"];
    try {
        b.base = read_all<float>(dir + "/base.f32", b.n * b.dim);
        b.q = read_all<float>(dir + "/queries.f32", b.nq * b.dim);
        b.truth = read_all<int64_t>(dir + "/truth.i64", b.nq);
    } catch (const std::exception &e) {
        std::fprintf(stderr, "index_hnswlib: %s\n", e.what());
        return 1;
    }
    b.top.assign(b.nq, -1);
    std::fprintf(stderr, "# index_hnswlib: hnswlib %s build ...\n",
#if defined(USE_AVX512)
                 "AVX-512"
#elif defined(USE_AVX)
                 "AVX"
#else
                 "SSE"
#endif
    );
    hnswlib::InnerProductSpace space(b.dim);
    double r0 = rss(), t0 = now();
    b.idx = new hnswlib::HierarchicalNSW<float>(&space, b.n, static_cast<size_t>(b.m),
                                                static_cast<size_t>(b.efc), 100);
    for (size_t i = 0; i < b.n; i++)
        b.idx->addPoint(b.base.data() + i * b.dim, i);
    b.build_s = now() - t0;
    b.bpv = (rss() - r0) / static_cast<double>(b.n);
    std::printf("ready\n");
    std::fflush(stdout);
    std::string line;
    while (std::getline(std::cin, line)) {
        long ef = line.rfind("ef ", 0) == 0 ? std::strtol(line.c_str() + 3, nullptr, 10) : 0;
        if (ef > 0 && ef <= 1 << 20)
            b.at_ef(static_cast<int>(ef));
        else
            std::fprintf(stderr, "index_hnswlib: bad request: %s\n", line.c_str());
        std::printf("done\n");
        std::fflush(stdout);
    }
    delete b.idx;
    return 0;
}
