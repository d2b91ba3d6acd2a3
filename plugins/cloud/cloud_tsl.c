/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Thing-model and passthrough downlinks: a TSL write (0x0013) becomes event 5/10210 with
 * the values, a TSL read (0x0011) event 5/10211 with {pkgid, {ids}} for the script to
 * answer with phymodelAck, passthrough (0x0023) event 5/10200 with the bytes. The uplink
 * side of the thing model is in cloud_lua.c and cloud_thing.c.
 */
#include <stdlib.h>

#include "cloud.h"

static void on_tsl_write(cloud_t *c, const qtd_frame_t *f, const qtd_value_t *tree)
{
    (void)f;
    qtd_cloud_publish_event(c, QTD_EVT_RECV, QTD_CODE_TSL, tree);
}

static void on_tsl_read(cloud_t *c, const qtd_frame_t *f, const qtd_value_t *tree)
{
    (void)tree;
    uint16_t ids[512];
    size_t n = 0;
    if (qtd_cloud_id_list(f, ids, 512, &n) < 0) {
        qtd_cloud_malformed(c, QTD_EXCE_UNFORMATTABLE, f->pkgid,
                            "0x%04x pkgid %u: an id list of %zu bytes (odd, or more than 512 ids)",
                            f->cmd, f->pkgid, f->len);
        return;
    }
    qtd_value_t *list = c->api->calloc(c->host, n + 1, sizeof(*list));
    if (list == NULL) {
        /* The platform waits for an answer: say we could not make one. */
        c->api->log(c->host, QTD_LOG_ERROR, "TSL read pkgid %u: out of memory", f->pkgid);
        qtd_cloud_send_exce(c, QTD_EXCE_UNFORMATTABLE, f->pkgid);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        list[i].type = QTD_VAL_INT;
        list[i].u.i = ids[i];
    }
    qtd_value_t pair[2] = {{.type = QTD_VAL_INT, .u.i = f->pkgid},
                           {.type = QTD_VAL_ARRAY, .u.list = {list, n}}};
    qtd_value_t v = {.type = QTD_VAL_ARRAY, .u.list = {pair, 2}};
    qtd_cloud_publish_event(c, QTD_EVT_RECV, QTD_CODE_TSL_READ, &v);
    c->api->free(c->host, list);
}

static void on_pass_write(cloud_t *c, const qtd_frame_t *f, const qtd_value_t *tree)
{
    (void)tree;
    qtd_value_t v = {.type = QTD_VAL_BYTES, .u.s = {(const char *)f->payload, f->len}};
    qtd_cloud_publish_event(c, QTD_EVT_RECV, QTD_CODE_OK, &v);
}

const cloud_downlink_t qtd_cloud_tsl_downlinks[] = {
    {QTD_CMD_TSL_WRITE, true, on_tsl_write},
    {QTD_CMD_TSL_REQ, false, on_tsl_read},
    {QTD_CMD_PASS_WRITE, false, on_pass_write},
    {0, false, NULL},
};
