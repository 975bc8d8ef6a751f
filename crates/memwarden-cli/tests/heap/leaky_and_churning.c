/* One leaking call site and several churning ones, for `run --heap`.
 *
 * Every 100 ms: leaky_remember() keeps 50 blocks of 4 KiB forever (2 MiB/s), while
 * churn_small(), churn_big() and churn_buffers() allocate and free far more (tens of MiB/s)
 * and keep nothing. Prints one line and exits with status 3, so a test can tell that the
 * command's output and status came through untouched. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void *volatile kept[1 << 20];
volatile int nkept;
void *volatile slot;

__attribute__((noinline)) void leaky_remember(int i) {
    char *p = malloc(4096);
    memset(p, i, 4096);
    kept[nkept++ % (1 << 20)] = p;
}

__attribute__((noinline)) void churn_small(int i) {
    slot = malloc(64 + i % 200);
    free(slot);
}

__attribute__((noinline)) void churn_big(int i) {
    slot = calloc(1, 1 << 16);
    free(slot);
}

__attribute__((noinline)) void churn_buffers(int i) {
    char *p = malloc(1000);
    p = realloc(p, 20000 + i);
    slot = p;
    free(p);
}

int main(int argc, char **argv) {
    int tenths = argc > 1 ? atoi(argv[1]) * 10 : 30;
    for (int s = 0; s < tenths; s++) {
        for (int i = 0; i < 50; i++) leaky_remember(i);
        for (int i = 0; i < 2000; i++) churn_small(i);
        for (int i = 0; i < 100; i++) churn_big(i);
        for (int i = 0; i < 200; i++) churn_buffers(i);
        usleep(100000);
    }
    printf("kept %d blocks\n", nkept);
    return 3;
}
