/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Services between plugins (plugin ABI 1.1) through the real loader and life cycle: the
 * svc_provider and svc_consumer test plugins are loaded from their .so files, created,
 * started and stopped by the same functions the agent uses. A consumer finds its provider
 * and calls it; a provider loaded after its consumer is started before it and stopped after
 * it; a missing provider, a provider too old for the consumer (table too small), a provider
 * that fails to start and two providers of one name are clear errors naming who needs what.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "agent/agent.h"
#include "agent/alloc.h"
#include "agent/bus.h"
#include "agent/config.h"
#include "agent/log.h"
#include "testutil.h"

static const char *dir;

typedef struct {
    uv_loop_t loop;
    qtd_agent_t a;
    qtd_config_t *cfg;
    tu_capture_t cap;
    uint64_t alloc_start;
} fx_t;

/* Load the named plugins (in this order) with the config text, then create them. */
static void fx_load(fx_t *fx, const char *config, const char *const *names, size_t n)
{
    memset(fx, 0, sizeof(*fx));
    fx->alloc_start = qtd_alloc_bytes();
    assert_int_equal(uv_loop_init(&fx->loop), 0);
    fx->a.loop = &fx->loop;
    assert_int_equal(qtd__bus_create(&fx->a.bus, &fx->loop), 0);
    const char *path = tu_write(dir, "services.lua", "%s", config);
    assert_int_equal(qtd__config_load(&fx->cfg, path), 0);
    tu_capture_begin(&fx->cap, dir);
    qtd_plugin_t **tail = &fx->a.plugins;
    for (size_t i = 0; i < n; i++) {
        char *so = qtd__plugin_path(QTD_TEST_PLUGIN_DIR, names[i]);
        qtd_plugin_t *p = NULL;
        assert_int_equal(qtd__plugin_open(so, &p), 0);
        qtd_free(so);
        p->host.agent = &fx->a;
        p->config = qtd_calloc(1, p->desc->config_size);
        assert_non_null(p->config);
        qtd__config_section(fx->cfg, p->desc->name, p->desc->config_map, p->config);
        *tail = p;
        tail = &p->next;
    }
    assert_int_equal(qtd__config_error_count(fx->cfg), 0);
}

/* Stop, destroy, close; returns the captured log (malloc'ed). */
static char *fx_finish(fx_t *fx)
{
    qtd__plugins_stop(&fx->a);
    qtd__bus_close(fx->a.bus);
    uv_run(&fx->loop, UV_RUN_DEFAULT);
    qtd__plugins_destroy(&fx->a);
    char *log = tu_capture_end(&fx->cap);
    assert_null(fx->a.services);
    assert_int_equal(uv_loop_close(&fx->loop), 0);
    qtd__config_free(fx->cfg);
    assert_int_equal(qtd_alloc_bytes(), fx->alloc_start);
    return log;
}

/* Index of needle in log, failing the test when absent. */
static size_t at(const char *log, const char *needle)
{
    const char *p = strstr(log, needle);
    if (p == NULL) {
        fail_msg("not in the log: %s\n--- log ---\n%s", needle, log);
    }
    return (size_t)(p - log);
}

static void services_consumer_calls_its_provider(void **state)
{
    (void)state;
    fx_t fx;
    const char *names[] = {"svc_provider", "svc_consumer"};
    fx_load(&fx, "svc_consumer = { add = 5 }\n", names, 2);
    assert_int_equal(qtd__plugins_create(&fx.a), 0);
    assert_int_equal(qtd__plugins_start(&fx.a), 0);
    char *log = fx_finish(&fx);
    at(log, "svc_consumer: total 5 from test.counter");
    /* The provider's own total proves the call reached its instance. */
    at(log, "svc_provider: stopped with total 5");
    free(log);
}

static void services_provider_loaded_later_starts_first_and_stops_last(void **state)
{
    (void)state;
    fx_t fx;
    const char *names[] = {"svc_consumer", "svc_provider"};
    fx_load(&fx, "", names, 2);
    assert_int_equal(qtd__plugins_create(&fx.a), 0);
    assert_int_equal(qtd__plugins_start(&fx.a), 0);
    char *log = fx_finish(&fx);
    size_t prov_start = at(log, "svc_provider: started");
    size_t cons_total = at(log, "svc_consumer: total 2 from test.counter");
    size_t cons_stop = at(log, "svc_consumer: stopped");
    size_t prov_stop = at(log, "svc_provider: stopped with total 2");
    assert_true(prov_start < cons_total);
    assert_true(cons_stop < prov_stop);
    free(log);
}

static void services_missing_provider_is_a_start_error_naming_who_needs_what(void **state)
{
    (void)state;
    fx_t fx;
    const char *names[] = {"svc_consumer"};
    fx_load(&fx, "svc_consumer = { service = 'test.nobody' }\n", names, 1);
    assert_int_equal(qtd__plugins_create(&fx.a), 0);
    fx.a.plugins->required = true;
    assert_int_equal(qtd__plugins_start(&fx.a), QTD_ENOENT);
    char *log = fx_finish(&fx);
    at(log, "plugin svc_consumer needs service \"test.nobody\", which no loaded plugin "
            "provides");
    at(log, "plugin svc_consumer: start failed: no such file, key or entry");
    free(log);
}

static void services_optional_missing_provider_is_no_error(void **state)
{
    (void)state;
    fx_t fx;
    const char *names[] = {"svc_consumer"};
    fx_load(&fx, "svc_consumer = { optional = true }\n", names, 1);
    assert_int_equal(qtd__plugins_create(&fx.a), 0);
    assert_int_equal(qtd__plugins_start(&fx.a), 0);
    char *log = fx_finish(&fx);
    at(log, "svc_consumer: running without test.counter");
    assert_null(strstr(log, "ERROR"));
    free(log);
}

static void services_table_smaller_than_needed_is_refused(void **state)
{
    (void)state;
    fx_t fx;
    const char *names[] = {"svc_provider", "svc_consumer"};
    /* The provider plays an older build whose table ends before add(). */
    fx_load(&fx, "svc_provider = { size = 8 }\n", names, 2);
    assert_int_equal(qtd__plugins_create(&fx.a), 0);
    assert_int_equal(qtd__plugins_start(&fx.a), 0); /* not required: the agent goes on */
    char *log = fx_finish(&fx);
    at(log, "plugin svc_consumer needs service \"test.counter\" of at least 16 bytes, but "
            "plugin svc_provider 1.0.0 provides 8 bytes (an older version): upgrade "
            "svc_provider");
    at(log, "plugin svc_consumer: start failed: plugin ABI mismatch");
    assert_null(strstr(log, "svc_consumer: total"));
    free(log);
}

static void services_provider_that_fails_to_start_fails_its_consumer(void **state)
{
    (void)state;
    fx_t fx;
    const char *names[] = {"svc_consumer", "svc_provider"};
    fx_load(&fx, "svc_provider = { fail_start = true }\n", names, 2);
    assert_int_equal(qtd__plugins_create(&fx.a), 0);
    assert_int_equal(qtd__plugins_start(&fx.a), 0);
    char *log = fx_finish(&fx);
    at(log, "plugin svc_provider: start failed: input/output error");
    at(log, "plugin svc_consumer needs service \"test.counter\", but its provider "
            "svc_provider failed to start");
    /* Reported once: the later turn of the provider in the start loop is not retried. */
    char *first = strstr(log, "plugin svc_provider: start failed");
    assert_null(strstr(first + 1, "plugin svc_provider: start failed"));
    free(log);
}

static void services_two_providers_of_one_name_are_refused(void **state)
{
    (void)state;
    fx_t fx;
    const char *names[] = {"svc_provider", "probe", "svc_consumer"};
    fx_load(&fx, "", names, 3);
    /* A second provider of the same name, through the host API of another plugin. */
    qtd_plugin_t *probe = fx.a.plugins->next;
    probe->host.agent = &fx.a;
    assert_int_equal(qtd__plugins_create(&fx.a), 0);
    static const uint32_t table[4] = {sizeof(table), 0, 0, 0};
    const qtd_host_api_t *api = qtd__host_api();
    assert_int_equal(api->service_provide(&probe->host, "test.counter", table, NULL), QTD_EEXIST);
    assert_int_equal(api->service_provide(&probe->host, "", table, NULL), QTD_EINVAL);
    static const uint32_t tiny = 4;
    assert_int_equal(api->service_provide(&probe->host, "test.tiny", &tiny, NULL), QTD_EINVAL);
    const void *t = NULL;
    void *self = NULL;
    assert_int_equal(api->service_lookup(&probe->host, NULL, 8, 0, &t, &self), QTD_EINVAL);
    /* The slots retired in 1.1 still answer, for plugins built for 1.0. */
    assert_string_equal(api->default_dk(&probe->host), "");
    assert_int_equal(api->set_default_dk(&probe->host, "abc"), QTD_ENOTSUP);
    assert_int_equal(qtd__plugins_start(&fx.a), 0);
    char *log = fx_finish(&fx);
    at(log, "plugin probe: cannot provide service \"test.counter\": plugin svc_provider "
            "provides it already");
    at(log, "svc_consumer: total 2 from test.counter");
    free(log);
}

int main(void)
{
    dir = tu_tmpdir("test_services");
    qtd__log_setup(QTD_LOG_DEBUG, false);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(services_consumer_calls_its_provider),
        cmocka_unit_test(services_provider_loaded_later_starts_first_and_stops_last),
        cmocka_unit_test(services_missing_provider_is_a_start_error_naming_who_needs_what),
        cmocka_unit_test(services_optional_missing_provider_is_no_error),
        cmocka_unit_test(services_table_smaller_than_needed_is_refused),
        cmocka_unit_test(services_provider_that_fails_to_start_fails_its_consumer),
        cmocka_unit_test(services_two_providers_of_one_name_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
