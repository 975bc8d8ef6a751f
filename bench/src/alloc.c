/* A fast allocator for the overshoot benchmark: how far past a polled --limit does a program
 * get that allocates at a given rate, up to several GiB/s?
 *
 *   alloc RATE_MIB_S THREADS CHUNK_MIB PEAKFILE
 *
 * Each of THREADS threads allocates CHUNK_MIB with malloc and touches every page, pacing itself
 * to RATE_MIB_S / THREADS (0: as fast as it can). After each chunk the process's resident size
 * (from /proc/self/statm) is written to PEAKFILE when it is the highest yet, so the true peak is
 * known to one chunk even though the process is killed. It runs until killed, or until it has
 * allocated 64 GiB. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double rate_per_thread; /* bytes per second, 0 = unpaced */
static size_t chunk;
static int peak_fd, statm_fd;
static long page;
static unsigned long long peak;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void record(void) {
    char buf[128];
    pthread_mutex_lock(&lock);
    ssize_t n = pread(statm_fd, buf, sizeof buf - 1, 0);
    if (n > 0) {
        buf[n] = 0;
        unsigned long long size, resident;
        if (sscanf(buf, "%llu %llu", &size, &resident) == 2 && resident * page > peak) {
            peak = resident * page;
            char out[32];
            int len = snprintf(out, sizeof out, "%020llu", peak);
            if (pwrite(peak_fd, out, len, 0) != len) exit(3);
        }
    }
    pthread_mutex_unlock(&lock);
}

static void *run(void *arg) {
    (void)arg;
    double start = now();
    unsigned long long done = 0;
    while (done < (64ULL << 30)) {
        char *p = malloc(chunk);
        if (!p) return NULL;
        for (size_t i = 0; i < chunk; i += page) p[i] = 1;
        done += chunk;
        record();
        if (rate_per_thread > 0) {
            double ahead = done / rate_per_thread - (now() - start);
            if (ahead > 0) {
                struct timespec t = {(time_t)ahead, (long)((ahead - (time_t)ahead) * 1e9)};
                nanosleep(&t, NULL);
            }
        }
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: alloc RATE_MIB_S THREADS CHUNK_MIB PEAKFILE\n");
        return 2;
    }
    int threads = atoi(argv[2]);
    if (threads < 1) threads = 1;
    rate_per_thread = atof(argv[1]) * 1048576.0 / threads;
    chunk = (size_t)atoi(argv[3]) << 20;
    page = sysconf(_SC_PAGESIZE);
    peak_fd = open(argv[4], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    statm_fd = open("/proc/self/statm", O_RDONLY);
    if (peak_fd < 0 || statm_fd < 0 || chunk == 0) return 2;
    pthread_t t[64];
    if (threads > 64) threads = 64;
    for (int i = 0; i < threads; i++) pthread_create(&t[i], NULL, run, NULL);
    for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
    return 0;
}
