/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The service table shared by the two service test plugins (svc_provider.c, svc_consumer.c):
 * what a public service header such as qthingd/thing.h looks like, in miniature.
 */
#ifndef QTD_TESTS_PLUGINS_SVC_TEST_H
#define QTD_TESTS_PLUGINS_SVC_TEST_H

#include <stdint.h>

typedef struct svc_test_counter_s {
    uint32_t size; /* sizeof(svc_test_counter_t) as the provider was built */
    uint32_t reserved;
    /* Adds n to the provider's total. Returns the new total. */
    int64_t (*add)(void *self, int64_t n);
} svc_test_counter_t;

#endif /* QTD_TESTS_PLUGINS_SVC_TEST_H */
