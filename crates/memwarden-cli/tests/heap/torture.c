/* What must not break a program under the interposer: a fork storm (children that allocate,
 * free and exit, one of them exec'ing), threads starting and ending while they allocate,
 * dlopen of a library that allocates, a signal handler that allocates while its thread may be
 * inside the sampler, and every allocation function. Prints a checksum of its own work and
 * exits with status 7.
 *
 * The signal is only unblocked in threads that allocate nothing but small blocks, which
 * glibc serves from its per-thread cache without a lock: a handler that allocates while its
 * thread holds glibc's arena lock deadlocks with or without any interposer, and that is not
 * what this checks. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t handled;
void *volatile slot;

static void on_alarm(int sig) {
    (void)sig;
    char *p = malloc(48);
    p[0] = 1;
    free(p);
    handled++;
}

/* Small blocks only, with the signal unblocked. */
static void *signalled(void *arg) {
    (void)arg;
    sigset_t alarm;
    sigemptyset(&alarm);
    sigaddset(&alarm, SIGALRM);
    pthread_sigmask(SIG_UNBLOCK, &alarm, NULL);
    long sum = 0;
    for (int i = 0; i < 100000; i++) {
        char *p = malloc(48);
        p[0] = (char)(i | 1);
        sum += p[0] != 0;
        free(p);
    }
    pthread_sigmask(SIG_BLOCK, &alarm, NULL);
    return (void *)sum;
}

/* Blocks of every size. */
static void *busy(void *arg) {
    long n = (long)arg;
    long sum = 0;
    for (int i = 0; i < 20000; i++) {
        char *p = malloc(16 + (i * n) % 40000);
        p[0] = (char)(i | 1);
        sum += p[0] != 0;
        free(p);
    }
    return (void *)sum;
}

int main(int argc, char **argv) {
    const char *lib = argc > 1 ? argv[1] : NULL;
    sigset_t alarm;
    sigemptyset(&alarm);
    sigaddset(&alarm, SIGALRM);
    pthread_sigmask(SIG_BLOCK, &alarm, NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval every = {{0, 200}, {0, 200}};
    setitimer(ITIMER_REAL, &every, NULL);

    long checksum = 0;
    for (int round = 0; round < 10; round++) {
        pthread_t t[6];
        for (long i = 0; i < 6; i++)
            pthread_create(&t[i], NULL, i < 2 ? signalled : busy, (void *)(i + 1));
        for (int c = 0; c < 10; c++) {
            pid_t pid = fork();
            if (pid == 0) {
                for (int i = 0; i < 2000; i++) {
                    slot = malloc(1000 + i);
                    free(slot);
                }
                if (c == 0) execl("/bin/true", "true", (char *)NULL);
                _exit(0);
            }
        }
        if (lib) {
            void *h = dlopen(lib, RTLD_NOW);
            char *(*make)(int) = h ? (char *(*)(int))dlsym(h, "make_block") : NULL;
            if (make) {
                char *b = make(100000);
                checksum += b[99999] == 42;
                free(b);
            }
            if (h) dlclose(h);
        }
        void *a = aligned_alloc(64, 4096);
        void *m = memalign(128, 70000);
        void *pm = NULL;
        if (posix_memalign(&pm, 256, 300000) == 0) free(pm);
        char *c = calloc(1000, 100);
        checksum += c[5000] == 0;
        free(c);
        free(a);
        free(m);
        for (int i = 0; i < 6; i++) {
            void *r;
            pthread_join(t[i], &r);
            checksum += (long)r;
        }
        int status;
        while (wait(&status) > 0) checksum += WIFEXITED(status) && WEXITSTATUS(status) == 0;
    }
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    printf("checksum %ld, signal handler ran: %s\n", checksum, handled > 0 ? "yes" : "no");
    return 7;
}
