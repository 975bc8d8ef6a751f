/* Many sampled allocations live at once, all freed: for `run --heap --heap-sample 1`, where
 * every allocation is sampled. Each round keeps 30,000 blocks (many of them share a slot of
 * the interposer's free filter) and frees them in a shuffled order; a free the filter lost
 * would stay in the live set for good, and the set (32,768 entries) would soon overflow into
 * dropped samples. */
#include <stdio.h>
#include <stdlib.h>

enum { BLOCKS = 30000, ROUNDS = 40 };
static void *blocks[BLOCKS];

static unsigned x = 12345;

static unsigned next(void) { return x = x * 1103515245 + 12345; }

/* Sizes at random, so the addresses are irregular as in real programs. */
__attribute__((noinline)) void keep(int i) { blocks[i] = malloc(16 + (next() >> 8) % 4000); }

int main(void) {
    for (int r = 0; r < ROUNDS; r++) {
        for (int i = 0; i < BLOCKS; i++) keep(i);
        for (int i = BLOCKS - 1; i > 0; i--) {
            int j = next() % (i + 1);
            void *t = blocks[i];
            blocks[i] = blocks[j];
            blocks[j] = t;
        }
        for (int i = 0; i < BLOCKS; i++) free(blocks[i]);
    }
    printf("%d rounds of %d blocks\n", ROUNDS, BLOCKS);
    return 0;
}
