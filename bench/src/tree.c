/* A tree to watch: one parent and N sleeping children.
 *
 *   tree N PIDFILE [SPAWN_PER_S]
 *
 * Forks N children that sleep in pause() until the parent dies (PR_SET_PDEATHSIG), then writes
 * every PID of the tree, the parent's first, one per line, to PIDFILE (written to PIDFILE.tmp
 * and renamed, so a reader never sees half a list) and sleeps until it is sent TERM or INT,
 * when it kills its children, reaps them and exits.
 *
 * With SPAWN_PER_S > 0 the parent also starts that many short-lived children a second (each
 * lives 200 ms, then exits and is reaped), so a watcher sees processes come and go: the churn
 * of the soak. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

static pid_t spawn(pid_t parent, int short_lived) {
    pid_t p = fork();
    if (p != 0) return p;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(0);
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    if (short_lived) {
        struct timespec d = {0, 200 * 1000 * 1000};
        nanosleep(&d, NULL);
        _exit(0);
    }
    for (;;) pause();
}

int main(int argc, char **argv) {
    if (argc != 3 && argc != 4) {
        fprintf(stderr, "usage: tree N PIDFILE [SPAWN_PER_S]\n");
        return 2;
    }
    long n = strtol(argv[1], NULL, 10);
    double spawn_per_s = argc == 4 ? atof(argv[3]) : 0.0;
    pid_t *kids = calloc(n > 0 ? n : 1, sizeof *kids);
    pid_t self = getpid();
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    for (long i = 0; i < n; i++) {
        kids[i] = spawn(self, 0);
        if (kids[i] < 0) {
            perror("fork");
            for (long j = 0; j < i; j++) kill(kids[j], SIGKILL);
            return 1;
        }
    }
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", argv[2]);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        perror(tmp);
        return 1;
    }
    fprintf(f, "%d\n", (int)self);
    for (long i = 0; i < n; i++) fprintf(f, "%d\n", (int)kids[i]);
    fclose(f);
    rename(tmp, argv[2]);
    if (spawn_per_s > 0) {
        long gap_ns = (long)(1e9 / spawn_per_s);
        struct timespec gap = {gap_ns / 1000000000L, gap_ns % 1000000000L};
        while (!stop) {
            spawn(self, 1);
            nanosleep(&gap, NULL);
            while (waitpid(-1, NULL, WNOHANG) > 0) {
            }
        }
    } else {
        while (!stop) pause();
    }
    for (long i = 0; i < n; i++) kill(kids[i], SIGKILL);
    while (wait(NULL) > 0) {
    }
    return 0;
}
