/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Libraries loaded at their first need (plugins/common/qtd_lazylib.h), on real libraries:
 * libm (its functions through a table of their own prototypes), a soname that does not
 * exist, a symbol the library lacks; the errors name what to install.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <math.h>

#include "qtd_lazylib.h"

#define LIBM_FUNCS(X) X(cos, cos) X(hypot, hypot)
typedef struct {
    LIBM_FUNCS(QTD_LAZY_FIELD)
} libm_t;

static void resolve_libm(qtd_lazylib_t *l, void *table)
{
    libm_t *t = table;
    LIBM_FUNCS(QTD_LAZY_RESOLVE)
}

/* A table whose second function libm does not have. */
typedef struct {
    void *cos;
    void *missing;
} bad_t;

static void resolve_bad(qtd_lazylib_t *l, void *table)
{
    bad_t *t = table;
    t->cos = qtd_lazylib_sym(l, "cos");
    t->missing = qtd_lazylib_sym(l, "qtd_no_such_function");
}

static void lazylib_loads_and_calls_through_the_table(void **state)
{
    (void)state;
    qtd_lazylib_t lib = {.soname = "libm.so.6", .package = "libc6"};
    libm_t m = {0};
    char err[200] = "";
    assert_int_equal(qtd_lazylib_load(&lib, resolve_libm, &m, err, sizeof(err)), 0);
    assert_non_null(lib.handle);
    volatile double x = 0.0;
    assert_true(m.cos(x) == 1.0);
    assert_true(m.hypot(3.0, 4.0) == 5.0);
    void *h = lib.handle;
    assert_int_equal(qtd_lazylib_load(&lib, resolve_libm, &m, err, sizeof(err)),
                     0); /* loaded: at once */
    assert_ptr_equal(lib.handle, h);
}

static void lazylib_names_a_missing_library_and_its_package(void **state)
{
    (void)state;
    qtd_lazylib_t lib = {.soname = "libqtd-not-there.so.7", .package = "libqtd7"};
    libm_t m = {0};
    char err[200] = "";
    assert_int_equal(qtd_lazylib_load(&lib, resolve_libm, &m, err, sizeof(err)), -1);
    assert_null(lib.handle);
    assert_non_null(strstr(err, "cannot load libqtd-not-there.so.7"));
    assert_non_null(strstr(err, "install libqtd7"));
    /* tried again at the next call, not remembered as failed */
    assert_int_equal(qtd_lazylib_load(&lib, resolve_libm, &m, err, sizeof(err)), -1);
}

static void lazylib_refuses_a_library_without_a_function(void **state)
{
    (void)state;
    qtd_lazylib_t lib = {.soname = "libm.so.6", .package = "libc6"};
    bad_t b = {0};
    char err[200] = "";
    assert_int_equal(qtd_lazylib_load(&lib, resolve_bad, &b, err, sizeof(err)), -1);
    assert_null(lib.handle);
    assert_non_null(strstr(err, "libm.so.6 has no qtd_no_such_function"));
    assert_non_null(strstr(err, "install libc6"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(lazylib_loads_and_calls_through_the_table),
        cmocka_unit_test(lazylib_names_a_missing_library_and_its_package),
        cmocka_unit_test(lazylib_refuses_a_library_without_a_function),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
