/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The plugin loader against real .so files: the four shipped plugins and the probe load and
 * their config tables parse; the old-ABI and wrong-ABI plugins, a library that is not a
 * plugin and a missing file are refused with a message naming the file and the versions.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "agent/agent.h"
#include "agent/alloc.h"
#include "agent/config.h"
#include "agent/log.h"
#include "testutil.h"

static const char *dir;

static char *path_of(const char *name)
{
    return qtd__plugin_path(QTD_TEST_PLUGIN_DIR, name);
}

/* Open a plugin expecting rc; return the log it wrote (malloc'ed). */
static char *open_expect(const char *name, int want, qtd_plugin_t **out)
{
    char *path = path_of(name);
    tu_capture_t cap;
    tu_capture_begin(&cap, dir);
    qtd_plugin_t *p = NULL;
    int rc = qtd__plugin_open(path, &p);
    char *log = tu_capture_end(&cap);
    qtd_free(path);
    assert_int_equal(rc, want);
    if (out != NULL) {
        *out = p;
    } else {
        qtd__plugin_close(p);
    }
    return log;
}

static void plugins_shipped_ones_load_with_valid_config_tables(void **state)
{
    (void)state;
    const char *names[] = {"cloud", "httpota", "modbus", "gnss", "probe"};
    for (size_t i = 0; i < 5; i++) {
        qtd_plugin_t *p = NULL;
        free(open_expect(names[i], 0, &p));
        assert_string_equal(p->desc->name, names[i]);
        assert_int_equal(p->desc->abi_major, QTD_PLUGIN_ABI_MAJOR);
        assert_non_null(p->desc->version);
        assert_non_null(p->desc->summary);
        /* Every default in the table parses into the config struct. */
        void *cfg_struct = qtd_calloc(1, p->desc->config_size + 1);
        qtd_config_t *cfg = NULL;
        const char *empty = tu_write(dir, "empty.lua", "-- empty\n");
        assert_int_equal(qtd__config_load(&cfg, empty), 0);
        assert_int_equal(qtd__config_defaults(cfg, p->desc->config_map, cfg_struct), 0);
        qtd__config_section(cfg, p->desc->name, p->desc->config_map, cfg_struct);
        assert_int_equal(qtd__config_error_count(cfg), 0);
        qtd__config_free(cfg);
        qtd_free(cfg_struct);
        qtd__plugin_close(p);
    }
}

static void plugins_old_abi_is_refused_naming_both_versions(void **state)
{
    (void)state;
    char *log = open_expect("old_abi", QTD_EABI, NULL);
    assert_non_null(strstr(log, "qtd_old_abi.so: refused: built for plugin ABI 0.9, this agent "
                                "runs ABI 1.2"));
    assert_non_null(strstr(log, "dlerror"));
    free(log);
}

static void plugins_wrong_abi_is_refused_naming_both_versions(void **state)
{
    (void)state;
    char *log = open_expect("wrong_abi", QTD_EABI, NULL);
    assert_non_null(strstr(log, "qtd_wrong_abi.so: refused: built for plugin ABI 2.0, this "
                                "agent runs ABI 1.2"));
    free(log);
}

static void plugins_missing_file_is_refused_with_dlerror(void **state)
{
    (void)state;
    char *log = open_expect("does_not_exist", QTD_ENOENT, NULL);
    assert_non_null(strstr(log, "qtd_does_not_exist.so: cannot load:"));
    assert_non_null(strstr(log, "No such file"));
    free(log);
}

static void plugins_library_without_descriptor_is_refused(void **state)
{
    (void)state;
    tu_capture_t cap;
    tu_capture_begin(&cap, dir);
    qtd_plugin_t *p = NULL;
    int rc = qtd__plugin_open("libm.so.6", &p);
    char *log = tu_capture_end(&cap);
    assert_int_equal(rc, QTD_ENOENT);
    assert_null(p);
    assert_non_null(strstr(log, "libm.so.6: not a qthingd plugin: no symbol qtd_plugin_desc"));
    free(log);
}

static void plugins_path_rule(void **state)
{
    (void)state;
    char *a = qtd__plugin_path("/usr/lib/qthingd/plugins", "cloud");
    char *b = qtd__plugin_path("/usr/lib/qthingd/plugins", "./my/thing.so");
    assert_string_equal(a, "/usr/lib/qthingd/plugins/qtd_cloud.so");
    assert_string_equal(b, "./my/thing.so");
    qtd_free(a);
    qtd_free(b);
}

int main(void)
{
    dir = tu_tmpdir("test_plugins");
    qtd__log_setup(QTD_LOG_DEBUG, false);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(plugins_shipped_ones_load_with_valid_config_tables),
        cmocka_unit_test(plugins_old_abi_is_refused_naming_both_versions),
        cmocka_unit_test(plugins_wrong_abi_is_refused_naming_both_versions),
        cmocka_unit_test(plugins_missing_file_is_refused_with_dlerror),
        cmocka_unit_test(plugins_library_without_descriptor_is_refused),
        cmocka_unit_test(plugins_path_rule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
