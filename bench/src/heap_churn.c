/* Allocation-heavy work for the `--heap` memory benchmark: for the given seconds, allocates and
 * frees blocks of every size while keeping a bounded working set (and, with a third argument,
 * leaks that many bytes per second too). Prints its own anonymous memory at the end, so the
 * interposer's share is the difference with and without it. */
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
    double seconds = argc > 1 ? atof(argv[1]) : 10;
    double leak_per_s = argc > 2 ? atof(argv[2]) : 0;
    enum { SLOTS = 4096 };
    static void *work[SLOTS];
    unsigned x = 12345;
    double start = now(), leaked = 0;
    long ops = 0;
    while (now() - start < seconds) {
        for (int i = 0; i < 10000; i++) {
            x = x * 1103515245 + 12345;
            int s = x % SLOTS;
            free(work[s]);
            size_t size = 16 + (x >> 8) % ((x & 1) ? 512 : 65536);
            work[s] = malloc(size);
            memset(work[s], 1, 16);
            ops++;
        }
        while (leak_per_s > 0 && leaked < leak_per_s * (now() - start)) {
            char *p = malloc(4096);
            memset(p, 2, 4096);
            leaked += 4096;
        }
    }
    printf("%ld ops, rss_anon_kib %ld\n", ops, rss_anon_kib());
    return 0;
}
