/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The platform's location requests (LOC_REQ 0x0123 {1: "GGA;LBS"}), answered with LOC_RSP
 * 0x0124 (QoS 0, the request's pkgid, {2: "s1;s2;"}) from the location service (the GNSS
 * plugin's, qthingd/location.h) when one is loaded; without one, or for titles the sources
 * do not have, the answer holds no sentence. A request with no title, AUTO with other
 * titles, or a title twice or inside another is refused with EXCE {1: 5, 2: pkgid}
 * (docs/protocol.md "Location"). Also the support list of info id 12.
 */
#include <stdio.h>
#include <string.h>

#include "cloud.h"

#define LOG(c, lvl, ...) (c)->api->log((c)->host, (lvl), __VA_ARGS__)
#define LOC_RSP_MAX 4096

void qtd_cloud_loc_start(cloud_t *c)
{
    const void *t = NULL;
    if (c->api->service_lookup(c->host, QTD_LOCATION_SERVICE, QTD_LOCATION_API_V1_SIZE,
                               QTD_SERVICE_OPTIONAL, &t, &c->loc_self) == 0) {
        c->loc = t;
    }
}

void qtd_cloud_loc_support(cloud_t *c, char *buf, size_t n)
{
    buf[0] = '\0';
    if (c->loc != NULL) {
        c->loc->support(c->loc_self, buf, n);
    }
}

static void on_loc_req(cloud_t *c, const qtd_frame_t *f, const qtd_value_t *tree)
{
    const qtd_value_t *titles = qtd_cloud_find_id(tree, 1);
    char t[512];
    if (titles == NULL || (titles->type != QTD_VAL_STRING && titles->type != QTD_VAL_BYTES) ||
        titles->u.s.len >= sizeof(t)) {
        qtd_cloud_malformed(c, QTD_EXCE_UNFORMATTABLE, f->pkgid,
                            "0x0123 pkgid %u: no title text (id 1)", f->pkgid);
        return;
    }
    memcpy(t, titles->u.s.ptr, titles->u.s.len);
    t[titles->u.s.len] = '\0';
    static char out[LOC_RSP_MAX];
    out[0] = '\0';
    bool any = false;
    for (const char *p = t; *p != '\0'; p++) {
        any |= *p != ';';
    }
    int rc = !any             ? QTD_EINVAL
             : c->loc != NULL ? c->loc->sentences(c->loc_self, t, out, sizeof(out))
                              : 0;
    if (rc == QTD_EINVAL) {
        qtd_cloud_malformed(c, QTD_EXCE_UNFORMATTABLE, f->pkgid,
                            "0x0123 pkgid %u: titles \"%s\" (none, AUTO with others, or one "
                            "twice or inside another)",
                            f->pkgid, t);
        return;
    }
    if (rc != 0) {
        LOG(c, QTD_LOG_WARN, "location request pkgid %u (%s): %s; answered with no sentence",
            f->pkgid, t, c->api->strerror(rc));
        out[0] = '\0';
    }
    qtd_value_t item = {.type = QTD_VAL_STRING, .id = 2, .u.s = {out, strlen(out)}};
    qtd_value_t v = {.type = QTD_VAL_STRUCT, .u.list = {&item, 1}};
    rc = qtd_cloud_send_value(c, 0, QTD_CMD_LOC_RSP, f->pkgid, &v);
    if (rc < 0) {
        LOG(c, QTD_LOG_WARN, "location request pkgid %u: the answer not sent: %s", f->pkgid,
            c->api->strerror(rc));
    }
}

const cloud_downlink_t qtd_cloud_loc_downlinks[] = {
    {QTD_CMD_LOC_REQ, true, on_loc_req},
    {0, false, NULL},
};
