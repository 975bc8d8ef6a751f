/* A large synthetic trace for `memwarden analyze`: N points, one every 10 ms, in the CSV form
 * memwarden reads (`t_seconds,rss_bytes,anon_bytes`).
 *
 *   gentrace N FILE
 *
 * The anonymous memory is a garbage-collected program's saw (a 64 MiB tooth every 30 s) over a
 * floor of 200 MiB that rises by 1 MiB a minute (a leak), with ±1 MiB of noise from a fixed
 * seed, so every run writes the same bytes. */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: gentrace N FILE\n");
        return 2;
    }
    long n = strtol(argv[1], NULL, 10);
    FILE *f = fopen(argv[2], "w");
    if (!f) {
        perror(argv[2]);
        return 1;
    }
    setvbuf(f, NULL, _IOFBF, 1 << 20);
    fputs("t_seconds,rss_bytes,anon_bytes\n", f);
    unsigned long long x = 0x9E3779B97F4A7C15ULL;
    const double mib = 1024.0 * 1024.0;
    for (long i = 0; i < n; i++) {
        double t = i * 0.01;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        double noise = ((double)(x >> 11) / 9007199254740992.0 * 2.0 - 1.0) * mib;
        double saw = (t - 30.0 * (long)(t / 30.0)) / 30.0 * 64.0 * mib;
        long anon = (long)(200.0 * mib + t / 60.0 * mib + saw + noise);
        fprintf(f, "%.2f,%ld,%ld\n", t, anon + 40L * 1024 * 1024, anon);
    }
    return fclose(f) != 0;
}
