/* The two floors the sampling-cost benchmark compares memwarden with: the least a sampler of
 * a known set of processes can do.
 *
 *   floor naive|held INTERVAL_MS DURATION_S PIDFILE
 *
 * naive: every sample, open/read/close /proc/PID/stat and /proc/PID/statm of every process
 *        (what a simple sampler does).
 * held:  open /proc/PID/statm once per process, then one pread at offset 0 per sample.
 *
 * Samples are taken every INTERVAL_MS on an absolute clock (a late sample skips ticks rather
 * than bunching them, as memwarden does) for DURATION_S seconds. It prints one line:
 *   samples=S processes=P cpu_s=C
 * with its own CPU time (user + system, getrusage) for the whole run. The figures it reads are
 * parsed (resident and shared pages summed), so the work is not optimised away. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static unsigned long long parse_field(const char *buf, int field) {
    /* field 0-based, space-separated */
    const char *p = buf;
    for (int i = 0; i < field && p; i++) {
        p = strchr(p, ' ');
        if (p) p++;
    }
    return p ? strtoull(p, NULL, 10) : 0;
}

static long read_file(const char *path, char *buf, size_t len) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = read(fd, buf, len - 1);
    close(fd);
    if (n < 0) return -1;
    buf[n] = 0;
    return n;
}

int main(int argc, char **argv) {
    if (argc != 5 || (strcmp(argv[1], "naive") && strcmp(argv[1], "held"))) {
        fprintf(stderr, "usage: floor naive|held INTERVAL_MS DURATION_S PIDFILE\n");
        return 2;
    }
    int held = !strcmp(argv[1], "held");
    long interval_ns = (long)(atof(argv[2]) * 1e6);
    double duration = atof(argv[3]);
    FILE *f = fopen(argv[4], "r");
    if (!f) {
        perror(argv[4]);
        return 1;
    }
    int cap = 1024, n = 0;
    int *pids = malloc(cap * sizeof *pids);
    int pid;
    while (fscanf(f, "%d", &pid) == 1) {
        if (n == cap) pids = realloc(pids, (cap *= 2) * sizeof *pids);
        pids[n++] = pid;
    }
    fclose(f);

    int *fds = NULL;
    if (held) {
        struct rlimit rl;
        getrlimit(RLIMIT_NOFILE, &rl);
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        fds = malloc(n * sizeof *fds);
        for (int i = 0; i < n; i++) {
            char path[64];
            snprintf(path, sizeof path, "/proc/%d/statm", pids[i]);
            fds[i] = open(path, O_RDONLY | O_CLOEXEC);
            if (fds[i] < 0) {
                fprintf(stderr, "floor: %s: %s\n", path, strerror(errno));
                return 1;
            }
        }
    }

    char buf[1024], path[64];
    unsigned long long sink = 0;
    long samples = 0;
    struct timespec start, next, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    next = start;
    for (;;) {
        for (int i = 0; i < n; i++) {
            if (held) {
                ssize_t r = pread(fds[i], buf, sizeof buf - 1, 0);
                if (r < 0) continue;
                buf[r] = 0;
                sink += parse_field(buf, 1) + parse_field(buf, 2);
            } else {
                snprintf(path, sizeof path, "/proc/%d/stat", pids[i]);
                if (read_file(path, buf, sizeof buf) > 0) {
                    /* field 22 (start time) counted after the command's closing parenthesis */
                    char *p = strrchr(buf, ')');
                    if (p) sink += parse_field(p + 2, 19);
                }
                snprintf(path, sizeof path, "/proc/%d/statm", pids[i]);
                if (read_file(path, buf, sizeof buf) > 0)
                    sink += parse_field(buf, 1) + parse_field(buf, 2);
            }
        }
        samples++;
        clock_gettime(CLOCK_MONOTONIC, &now);
        double elapsed = (now.tv_sec - start.tv_sec) + (now.tv_nsec - start.tv_nsec) / 1e9;
        if (elapsed >= duration) break;
        do {
            next.tv_nsec += interval_ns;
            while (next.tv_nsec >= 1000000000L) {
                next.tv_nsec -= 1000000000L;
                next.tv_sec++;
            }
        } while (next.tv_sec < now.tv_sec || (next.tv_sec == now.tv_sec && next.tv_nsec < now.tv_nsec));
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
    printf("samples=%ld processes=%d cpu_s=%.6f sink=%llu\n", samples, n, cpu, sink & 1);
    return 0;
}
