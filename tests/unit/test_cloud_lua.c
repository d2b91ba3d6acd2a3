/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The data functions of the quecIot module (seed 3.5) that the cloud plugin registers, with
 * the plugin loaded from its .so into a real Lua host, bus and store (lua_fixture.h) and no
 * broker: what a call stores is read back from the outbox and decoded with the wire codec,
 * so each test sees the frame the platform would get. Covers what the seed's own examples
 * do: devInfoReport() with no argument, a float computed in Lua, status values a script
 * supplies for a host without a battery.
 */
#include "lua_fixture.h"

#include "cloud_frame.h"
#include "cloud_ttlv.h"

#define SET_PK "assert(quecIot.init() and quecIot.setProductinfo('p1116a', 'UHg1dTRBRVh3MkVG'))\n"

static int cloud_setup(void **state)
{
    int rc = fx_setup(state);
    ((fx_t *)*state)->with_cloud = true;
    return rc;
}

typedef struct {
    int rows;
    uint16_t cmd;
    qtd_value_t tree; /* of the last row */
} seen_t;

static int on_row(void *arg, int64_t id, const char *topic, int qos, const void *payload,
                  size_t len)
{
    (void)id;
    (void)topic;
    (void)qos;
    seen_t *s = arg;
    qtd_frame_t f;
    uint8_t *storage = NULL;
    int reason = 0;
    assert_int_equal(qtd_frame_decode(payload, len, &f, &storage, &reason), 0);
    qtd_ttlv_free(&s->tree);
    size_t off = 0;
    assert_int_equal(qtd_ttlv_decode(f.payload, f.len, &s->tree, &off), 0);
    s->cmd = f.cmd;
    s->rows++;
    free(storage);
    return 0;
}

/* The outbox rows (committed or not), the last one decoded into s. */
static void outbox(fx_t *fx, seen_t *s)
{
    memset(s, 0, sizeof(*s));
    assert_int_equal(qtd_store_outbox_peek(fx->st, 0, 0, on_row, s), 0);
}

/* Expect `rows` rows in the outbox, the last one a frame of cmd; decoded into s. */
static void expect_rows(fx_t *fx, seen_t *s, int rows, uint16_t cmd)
{
    outbox(fx, s);
    assert_int_equal(s->rows, rows);
    assert_int_equal(s->cmd, cmd);
}

static const qtd_value_t *child(const qtd_value_t *t, uint16_t id)
{
    for (size_t i = 0; i < t->u.list.count; i++) {
        if (t->u.list.items[i].id == id) {
            return &t->u.list.items[i];
        }
    }
    return NULL;
}

static void cloud_devInfoReport_without_ids_reports_every_info_id(void **state)
{
    fx_t *fx = *state;
    assert_int_equal(host_run(fx, "info.lua",
                              SET_PK "assert(quecIot.devInfoReport() == true)\n"
                                     "assert(quecIot.devInfoReport(nil) == true)\n"
                                     "test.mark()\n"),
                     0);
    assert_int_equal(fx->marks, 1);
    seen_t s;
    expect_rows(fx, &s, 2, QTD_CMD_INFO_EVENT);
    /* every id this host has: model, version, MCU versions, SDK, location, protocols */
    const uint16_t ids[] = {1, 2, 3, 11, 12, 13, 14};
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        if (child(&s.tree, ids[i]) == NULL) {
            fail_msg("info id %u missing", ids[i]);
        }
    }
    const qtd_value_t *v13 = child(&s.tree, 13);
    assert_int_equal(v13->type, QTD_VAL_STRING);
    assert_memory_equal(v13->u.s.ptr, "1.3.0", 5);
    qtd_ttlv_free(&s.tree);
}

static void cloud_float_computed_in_lua_is_sent_rounded(void **state)
{
    fx_t *fx = *state;
    assert_int_equal(host_run(fx, "float.lua",
                              SET_PK
                              "assert(quecIot.phymodelReport(1, {[9] = 0.1 + 0.2}) == true)\n"
                              "assert(quecIot.phymodelReport(1, {[9] = 2 / 3}) == true)\n"
                              "test.mark()\n"),
                     0);
    assert_int_equal(fx->marks, 1);
    seen_t s;
    expect_rows(fx, &s, 2, QTD_CMD_TSL_EVENT);
    const qtd_value_t *v = child(&s.tree, 9);
    assert_non_null(v);
    assert_int_equal(v->type, QTD_VAL_DOUBLE);
    assert_true(v->u.d == 0.666666666666667);
    assert_int_equal(log_count(fx, "4/10310"), 0);
    qtd_ttlv_free(&s.tree);
}

static void cloud_script_supplies_status_values_the_host_lacks(void **state)
{
    fx_t *fx = *state;
    assert_int_equal(
        host_run(fx, "status.lua",
                 SET_PK "assert(cloud.setDevStatus({[1] = 87, [2] = 3.95}) == true)\n"
                        "local st = quecIot.getDevStatus({1, 2})\n"
                        "assert(st[1] == 87 and math.type(st[1]) == 'integer', tostring(st[1]))\n"
                        "assert(st[2] == 3.95, tostring(st[2]))\n"
                        "assert(quecIot.statusReport({1, 2}) == true)\n"
                        "assert(cloud.setDevStatus({[8] = 1}) == false)\n"
                        "assert(cloud.setDevStatus({[1] = 'full'}) == false)\n"
                        "assert(cloud.setDevStatus({[2] = false}) == true)\n"
                        "test.mark()\n"),
        0);
    assert_int_equal(fx->marks, 1);
    seen_t s;
    expect_rows(fx, &s, 1, QTD_CMD_STATUS_EVENT);
    const qtd_value_t *bat = child(&s.tree, 1);
    const qtd_value_t *volt = child(&s.tree, 2);
    assert_non_null(bat);
    assert_non_null(volt);
    assert_int_equal(bat->type, QTD_VAL_INT);
    assert_int_equal(bat->u.i, 87);
    assert_true(volt->type == QTD_VAL_DOUBLE && volt->u.d == 3.95);
    assert_logged(fx, "cloud.setDevStatus: expected a table");
    qtd_ttlv_free(&s.tree);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, cloud_setup, fx_teardown)
    const struct CMUnitTest tests[] = {
        T(cloud_devInfoReport_without_ids_reports_every_info_id),
        T(cloud_float_computed_in_lua_is_sent_rounded),
        T(cloud_script_supplies_status_values_the_host_lacks),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
