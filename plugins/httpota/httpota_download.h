/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one downloader of the agent (qthingd/download.h), provided by the HTTP OTA plugin for
 * itself and for the cloud plugin's MQTT OTA: libcurl's multi-socket API driven by the libuv
 * loop, resumable with Range from the bytes already in the file, MD5 and SHA-256 computed
 * while writing and checked before success is reported.
 */
#ifndef QTD_PLUGINS_HTTPOTA_HTTPOTA_DOWNLOAD_H
#define QTD_PLUGINS_HTTPOTA_HTTPOTA_DOWNLOAD_H

#include <stdint.h>

#include <uv.h>

#include "qthingd/download.h"
#include "qthingd/plugin.h"

#include "httpota_curl.h"

typedef struct dl_engine_s dl_engine_t;

typedef struct dl_opts_s {
    int64_t connect_timeout_s; /* per connection */
    int64_t low_speed_s;       /* below 1 byte/s for this long: the transfer failed */
    int64_t retries;           /* failed transfers retried this many times, backing off */
    int64_t retry_ms;          /* the first wait, doubled each time */
} dl_opts_t;

/* The engine behind the service table (self of qtd_download_api_t). It opens no handle
 * before its first download, so a fresh one may be freed at once.
 * Returns: 0, QTD_ENOMEM. */
int dl_engine_create(const qtd_host_api_t *api, qtd_host_t *host, const dl_opts_t *opts,
                     dl_engine_t **out);
/* Cancel every download (their done callbacks get QTD_ECANCELED) and close the handles. */
void dl_engine_stop(dl_engine_t *e);
/* After the loop closed the handles. Accepts NULL. */
void dl_engine_free(dl_engine_t *e);

extern const qtd_download_api_t dl_api;

/* Any transfer on the engine's libcurl multi handle (the downloads, the plan service's
 * requests): the owner's struct begins with a dl_xfer_t, whose done the engine calls on the
 * loop when libcurl ends the transfer (the easy handle already removed from the multi
 * handle, not cleaned up: done owns it). */
typedef struct dl_xfer_s dl_xfer_t;
struct dl_xfer_s {
    void (*done)(dl_xfer_t *x, CURL *easy, CURLcode result, long http_code);
};
/* Open the engine's handles unless open: the first transfer loads libcurl (an agent that
 * never downloads does not map it). Call before the first curl_* call.
 * Returns: 0, QTD_EIO (libcurl cannot be loaded or would not start: logged, with what to
 * install). */
int dl_engine_open(dl_engine_t *e);
/* Run easy on the loop, with the engine's timeouts and protocols (http, https).
 * Returns: 0, QTD_ECANCELED (stopping), QTD_EIO. */
int dl_engine_add(dl_engine_t *e, CURL *easy, dl_xfer_t *x);
/* Take easy off the engine before it ended (a cancelled request); done is not called. */
void dl_engine_remove(dl_engine_t *e, CURL *easy);
/* The wait before retry number attempt + 1: httpota.retry_ms doubled per attempt. */
uint64_t dl_backoff_ms(const dl_engine_t *e, int attempt);

#endif /* QTD_PLUGINS_HTTPOTA_HTTPOTA_DOWNLOAD_H */
