/* A library opened with dlopen that allocates for its caller. */
#include <stdlib.h>
#include <string.h>

char *make_block(int n) {
    char *b = malloc(n);
    memset(b, 42, n);
    return b;
}
