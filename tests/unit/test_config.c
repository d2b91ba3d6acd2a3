/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Config evaluation and validation: every kind of refusal names the key path and the
 * expected form; defaults apply; the file cannot reach any function or loop forever.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "agent/alloc.h"
#include "agent/config.h"
#include "testutil.h"

typedef struct {
    const char *mode;
    int64_t baud;
    int64_t port;
    const char *name;
} port_t;

typedef struct {
    int64_t lifetime;
    bool tls;
    double ratio;
    double scale;
    const char *server;
    qtd_cfg_array_t ports;
} sect_t;

static const qtd_cfg_key_t port_keys[] = {
    {QTD_CFG_STRING, "name", NULL, offsetof(port_t, name), "port name", 0, 0, NULL, NULL, 0},
    {QTD_CFG_STRING, "mode", "rtu", offsetof(port_t, mode), "mode", 0, 0, "rtu|tcp", NULL, 0},
    {QTD_CFG_INT, "baud", "9600", offsetof(port_t, baud), "speed", 0, 0, "9600|19200", NULL, 0},
    {QTD_CFG_INT, "port", "502", offsetof(port_t, port), "tcp port", 1, 65535, NULL, NULL, 0},
    {.type = QTD_CFG_END},
};

static const qtd_cfg_key_t keys[] = {
    {QTD_CFG_INT, "lifetime", "120", offsetof(sect_t, lifetime), "keepalive", 1, 65535, NULL, NULL,
     0},
    {QTD_CFG_BOOL, "tls", "true", offsetof(sect_t, tls), "use TLS", 0, 0, NULL, NULL, 0},
    {QTD_CFG_DOUBLE, "ratio", "0.5", offsetof(sect_t, ratio), "a ratio", 0, 1, NULL, NULL, 0},
    {QTD_CFG_DOUBLE, "scale", "1", offsetof(sect_t, scale), "a factor", 0, 0, NULL, NULL, 0},
    {QTD_CFG_STRING, "server", "iot-south.quectel.com:1883", offsetof(sect_t, server), "server", 0,
     0, NULL, NULL, 0},
    {QTD_CFG_ARRAY, "ports", NULL, offsetof(sect_t, ports), "ports", 0, 0, NULL, port_keys,
     sizeof(port_t)},
    {.type = QTD_CFG_END},
};

static const char *dir;

/* Load text as a config, validate section "cloud", return all error text (malloc'ed). */
static char *check(const char *text, sect_t *out, int *nerr)
{
    const char *path = tu_write(dir, "cfg.lua", "%s", text);
    qtd_config_t *cfg = NULL;
    assert_int_equal(qtd__config_load(&cfg, path), 0);
    sect_t tmp;
    memset(&tmp, 0, sizeof(tmp));
    qtd__config_section(cfg, "cloud", keys, &tmp);
    qtd__config_check_unknown(cfg);
    *nerr = qtd__config_error_count(cfg);
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);
    qtd__config_print_errors(cfg, fp);
    fclose(fp);
    if (out != NULL && *nerr == 0) {
        /* Copy scalars; strings die with cfg, so check them here. */
        *out = tmp;
        out->server = NULL;
        out->ports.items = NULL;
        if (tmp.server != NULL) {
            assert_non_null(strstr(tmp.server, ":"));
        }
    }
    qtd__config_free(cfg);
    return buf;
}

static void expect_error(const char *text, const char *needle)
{
    int n = 0;
    char *err = check(text, NULL, &n);
    if (n == 0 || strstr(err, needle) == NULL) {
        print_error("config:\n%s\nerrors (%d):\n%s\nexpected to contain: %s\n", text, n, err,
                    needle);
        free(err);
        fail();
    }
    free(err);
}

static void config_valid_file_applies_values_and_defaults(void **state)
{
    (void)state;
    sect_t s;
    int n = 0;
    char *err = check("cloud = { lifetime = 300, tls = false }", &s, &n);
    assert_int_equal(n, 0);
    free(err);
    assert_int_equal(s.lifetime, 300);
    assert_false(s.tls);
    assert_true(s.ratio == 0.5);
    assert_int_equal(s.ports.count, 0);
}

static void config_absent_section_gives_defaults(void **state)
{
    (void)state;
    sect_t s;
    int n = 0;
    char *err = check("-- nothing\n", &s, &n);
    assert_int_equal(n, 0);
    free(err);
    assert_int_equal(s.lifetime, 120);
    assert_true(s.tls);
}

static void config_misspelled_key_is_named_with_known_keys(void **state)
{
    (void)state;
    expect_error(
        "cloud = { lifetme = 300 }",
        "cloud.lifetme: unknown key (known keys: lifetime, tls, ratio, scale, server, ports)");
}

static void config_wrong_type_names_expected_form(void **state)
{
    (void)state;
    expect_error("cloud = { lifetime = \"300\" }",
                 "cloud.lifetime: expected an integer in 1..65535, got \"300\"");
    expect_error("cloud = { tls = 1 }", "cloud.tls: expected a boolean (true or false), got 1");
    expect_error("cloud = { server = 5 }", "cloud.server: expected a string, got 5");
    expect_error("cloud = { lifetime = 1.5 }", "cloud.lifetime: expected an integer");
    expect_error("cloud = 5", "cloud: expected a table");
}

static void config_out_of_range_is_refused(void **state)
{
    (void)state;
    expect_error("cloud = { lifetime = 0 }",
                 "cloud.lifetime: expected an integer in 1..65535, got 0");
    expect_error("cloud = { lifetime = 65536 }", "got 65536");
    expect_error("cloud = { ratio = 1.5 }", "cloud.ratio: expected a number in 0..1, got 1.5");
    expect_error("cloud = { ratio = 0/0 }", "cloud.ratio: expected a number in 0..1, got");
    /* a number with no range must still be finite */
    expect_error("cloud = { scale = 0/0 }", "cloud.scale: expected a finite number, got");
    expect_error("cloud = { scale = 1/0 }", "cloud.scale: expected a finite number, got inf");
    expect_error("cloud = { scale = -1/0 }", "cloud.scale: expected a finite number, got -inf");
}

static void config_array_items_have_indexed_paths(void **state)
{
    (void)state;
    expect_error("cloud = { ports = { { name = \"a\" }, { name = \"b\", baud = 9601 } } }",
                 "cloud.ports[2].baud: expected one of 9600|19200, got 9601");
    expect_error("cloud = { ports = { { name = \"a\", mode = \"udp\" } } }",
                 "cloud.ports[1].mode: expected one of rtu|tcp, got \"udp\"");
    expect_error("cloud = { ports = { { mode = \"tcp\" } } }",
                 "cloud.ports[1].name: missing; expected a string");
    expect_error("cloud = { ports = { 5 } }", "cloud.ports[1]: expected a table");
    expect_error("cloud = { ports = { { name = \"a\", bogus = 1 } } }",
                 "cloud.ports[1].bogus: unknown key");
}

static void config_array_values_are_written(void **state)
{
    (void)state;
    const char *path = tu_write(dir, "arr.lua",
                                "cloud = { ports = { { name = \"a\" }, "
                                "{ name = \"b\", mode = \"tcp\", port = 1502 } } }");
    qtd_config_t *cfg = NULL;
    assert_int_equal(qtd__config_load(&cfg, path), 0);
    sect_t s;
    memset(&s, 0, sizeof(s));
    qtd__config_section(cfg, "cloud", keys, &s);
    assert_int_equal(qtd__config_error_count(cfg), 0);
    assert_int_equal(s.ports.count, 2);
    const port_t *p = s.ports.items;
    assert_string_equal(p[0].name, "a");
    assert_string_equal(p[0].mode, "rtu");
    assert_int_equal(p[0].baud, 9600);
    assert_string_equal(p[1].mode, "tcp");
    assert_int_equal(p[1].port, 1502);
    qtd__config_free(cfg);
}

static void config_unknown_section_is_refused(void **state)
{
    (void)state;
    expect_error("cloud = {}\nmodbsu = { }", "modbsu: unknown section (known sections: cloud");
}

static void config_syntax_error_names_the_line(void **state)
{
    (void)state;
    expect_error("cloud = {\n lifetime = 300,\n tls = }\n", "cfg.lua:3:");
}

static void config_cannot_call_functions(void **state)
{
    (void)state;
    expect_error("os.exit(1)", "no library function is available");
    expect_error("print('x')", "attempt to call a nil value");
}

static void config_memory_bomb_is_stopped(void **state)
{
    (void)state;
    /* 31 doublings would be 2 GiB in about a hundred instructions: the allocator stops it. */
    expect_error("local s = 'x' for i = 1, 31 do s = s .. s end", "needs more than 16 MiB");
    expect_error("local t = {} for i = 1, 5e6 do t[i] = i end", "needs more than 16 MiB");
}

static void config_endless_loop_is_stopped(void **state)
{
    (void)state;
    expect_error("while true do end", "runs too long");
}

static void config_missing_file_is_reported(void **state)
{
    (void)state;
    qtd_config_t *cfg = NULL;
    assert_int_equal(qtd__config_load(&cfg, "/nonexistent/agent.lua"), 0);
    assert_int_equal(qtd__config_error_count(cfg), 1);
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);
    qtd__config_print_errors(cfg, fp);
    fclose(fp);
    assert_non_null(strstr(buf, "/nonexistent/agent.lua: cannot read the config file"));
    free(buf);
    qtd__config_free(cfg);
}

static void config_relative_paths_resolve_to_its_dir(void **state)
{
    (void)state;
    const char *path = tu_write(dir, "rel.lua", "x = 1\n");
    qtd_config_t *cfg = NULL;
    assert_int_equal(qtd__config_load(&cfg, path), 0);
    char want[700];
    snprintf(want, sizeof(want), "%s/script.lua", dir);
    assert_string_equal(qtd__config_resolve(cfg, "script.lua"), want);
    assert_string_equal(qtd__config_resolve(cfg, "/abs/x.lua"), "/abs/x.lua");
    qtd__config_free(cfg);
}

int main(void)
{
    dir = tu_tmpdir("test_config");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(config_valid_file_applies_values_and_defaults),
        cmocka_unit_test(config_absent_section_gives_defaults),
        cmocka_unit_test(config_misspelled_key_is_named_with_known_keys),
        cmocka_unit_test(config_wrong_type_names_expected_form),
        cmocka_unit_test(config_out_of_range_is_refused),
        cmocka_unit_test(config_array_items_have_indexed_paths),
        cmocka_unit_test(config_array_values_are_written),
        cmocka_unit_test(config_unknown_section_is_refused),
        cmocka_unit_test(config_syntax_error_names_the_line),
        cmocka_unit_test(config_cannot_call_functions),
        cmocka_unit_test(config_endless_loop_is_stopped),
        cmocka_unit_test(config_memory_bomb_is_stopped),
        cmocka_unit_test(config_missing_file_is_reported),
        cmocka_unit_test(config_relative_paths_resolve_to_its_dir),
    };
    return tu_finish(cmocka_run_group_tests(tests, NULL, NULL), qtd_alloc_bytes());
}
