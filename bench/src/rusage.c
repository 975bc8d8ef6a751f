/* Runs a command and reports what the kernel accounted to it.
 *
 *   rusage RESULT CMD [ARGS...]
 *
 * Starts CMD, writes `pid=PID` to RESULT.pid at once (for a caller that reads the process's
 * /proc files while it runs), forwards INT and TERM to it, waits for it with wait4 and writes
 * `status=S cpu_s=USER+SYSTEM maxrss_kib=K` to RESULT.
 *
 * Why not the caller's own wait4: a child's ru_maxrss starts from its parent's resident size
 * at the fork (exec keeps the old image's high-water mark), so a Python caller's 17 MiB would
 * show as the floor of every figure. This launcher's own size (under 1 MiB) is the floor here,
 * well below anything it measures. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile pid_t child;
static void forward(int sig) {
    if (child > 0) kill(child, sig);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: rusage RESULT CMD [ARGS...]\n");
        return 2;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = forward;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    pid_t p = fork();
    if (p < 0) {
        perror("fork");
        return 1;
    }
    if (p == 0) {
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        execvp(argv[2], argv + 2);
        perror(argv[2]);
        _exit(127);
    }
    child = p;
    char path[4096];
    snprintf(path, sizeof path, "%s.pid", argv[1]);
    FILE *f = fopen(path, "w");
    if (f) {
        fprintf(f, "pid=%d\n", (int)p);
        fclose(f);
    }
    int status;
    struct rusage ru;
    while (wait4(p, &status, 0, &ru) < 0) {
    }
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    f = fopen(argv[1], "w");
    if (!f) {
        perror(argv[1]);
        return 1;
    }
    fprintf(f, "status=%d cpu_s=%.6f maxrss_kib=%ld\n", code,
            ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6,
            ru.ru_maxrss);
    fclose(f);
    return 0;
}
