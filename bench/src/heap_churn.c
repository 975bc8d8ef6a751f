/* Allocation-heavy work for the `--heap` benchmark: the given millions of operations, each
 * freeing one block of a bounded working set and allocating another of any size (with a
 * second argument, also leaking a 4 KiB block every that many operations; with a third, no
 * block larger than that many bytes). The same allocations with or without the interposer,
 * so the difference in the anonymous memory it prints at the end is the interposer's; with
 * small blocks it is the worst case for the interposer's cost per call. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static long rss_anon_kib(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "RssAnon: %ld", &kib) == 1) break;
    if (f) fclose(f);
    return kib;
}

int main(int argc, char **argv) {
    long ops = (long)((argc > 1 ? atof(argv[1]) : 10) * 1e6);
    long leak_every = argc > 2 ? atol(argv[2]) : 0;
    long max_size = argc > 3 ? atol(argv[3]) : 0;
    enum { SLOTS = 4096 };
    static void *work[SLOTS];
    unsigned x = 12345;
    double start = now();
    long leaked = 0;
    for (long i = 0; i < ops; i++) {
        x = x * 1103515245 + 12345;
        int s = x % SLOTS;
        free(work[s]);
        size_t size = 16 + (x >> 8) % (max_size > 16 ? max_size - 16 : (x & 1) ? 512 : 65536);
        work[s] = malloc(size);
        memset(work[s], 1, 16);
        if (leak_every > 0 && i % leak_every == 0) {
            char *p = malloc(4096);
            memset(p, 2, 4096);
            leaked++;
        }
    }
    printf("%ld ops in %.3f s, %ld blocks leaked, rss_anon_kib %ld\n", ops, now() - start, leaked,
           rss_anon_kib());
    return 0;
}
