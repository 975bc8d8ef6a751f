/* A C extension with the two kinds of native memory use a leak check must tell apart:
 * keep() mallocs, writes and forgets a buffer (a leak outside Python's allocator, invisible to
 * sys.getallocatedblocks); churn() mallocs, writes and frees the same amount (no leak). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdlib.h>
#include <string.h>

/* mallocs and writes n bytes (n from a Python int above 0); NULL with an exception set. */
static char *written(PyObject *arg, Py_ssize_t *n) {
    *n = PyLong_AsSsize_t(arg);
    if (*n <= 0) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "n must be above 0");
        return NULL;
    }
    char *p = malloc((size_t)*n);
    if (!p) {
        PyErr_NoMemory();
        return NULL;
    }
    memset(p, 1, (size_t)*n);
    return p;
}

/* The kept buffers are chained, so the compiler cannot drop an allocation nobody reads. */
static void *kept = NULL;

static PyObject *keep(PyObject *self, PyObject *arg) {
    Py_ssize_t n;
    char *p = written(arg, &n);
    if (!p) return NULL;
    if ((size_t)n >= sizeof(void *)) {
        *(void **)p = kept;
        kept = p;
    }
    Py_RETURN_NONE; /* p is never freed */
}

static PyObject *churn(PyObject *self, PyObject *arg) {
    Py_ssize_t n;
    char *p = written(arg, &n);
    if (!p) return NULL;
    /* Read back through a volatile pointer: the writes must happen before the free. */
    volatile char *v = p;
    if (v[n - 1] != 1) abort();
    free(p);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"keep", keep, METH_O, "malloc n bytes, write them, never free them"},
    {"churn", churn, METH_O, "malloc n bytes, write them, free them"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "leakyext", NULL, -1, methods};

PyMODINIT_FUNC PyInit_leakyext(void) { return PyModule_Create(&module); }
