/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The "download" service: the one downloader behind MQTT OTA and HTTP OTA. A download
 * fetches a URL over HTTP(S) into a file, resumes from the bytes already on disk (Range),
 * computes MD5 and SHA-256 while writing, and checks size and digests before it reports
 * success; a file that fails a check is removed. It runs on the loop, never blocking it.
 * This header is the contract; the plugin that provides it is added with the OTA work.
 * Installed beside plugin.h; the table only grows at its end.
 */
#ifndef QTD_QTHINGD_DOWNLOAD_H
#define QTD_QTHINGD_DOWNLOAD_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define QTD_DOWNLOAD_SERVICE "download"

typedef struct qtd_download_s qtd_download_t; /* opaque, owned by the provider */

/* What the file must be; empty strings and 0 are not checked. */
typedef struct qtd_download_check_s {
    uint64_t size;      /* bytes */
    const char *md5;    /* 32 lower-case hex digits */
    const char *sha256; /* 64 lower-case hex digits */
} qtd_download_check_t;

/* Progress: bytes on disk so far and the total when known (0 otherwise). */
typedef void (*qtd_download_progress_cb)(void *arg, uint64_t done, uint64_t total);
/* The end: status 0 (the file at path passed every check), QTD_EIO (network or HTTP error
 * after the retries), QTD_EILSEQ (size or digest mismatch: the file was removed),
 * QTD_ENOSPC, QTD_ECANCELED (cancelled or shutdown). */
typedef void (*qtd_download_done_cb)(void *arg, int status);

typedef struct qtd_download_api_s {
    uint32_t size; /* sizeof(qtd_download_api_t) as the provider was built */
    uint32_t reserved;
    /* Start fetching url into path (resuming from what path holds). As libuv: when this
     * returns an error, done is never called; otherwise it is called exactly once, on the
     * loop, and progress (may be NULL) any number of times before it. *out identifies the
     * download until done runs.
     * Returns: 0, QTD_EINVAL (url or path), QTD_ENOMEM, QTD_EBUSY (one already runs into
     * path), QTD_ECANCELED (the provider is stopping). */
    int (*start)(void *self, const char *url, const char *path, const qtd_download_check_t *check,
                 qtd_download_progress_cb progress, qtd_download_done_cb done, void *arg,
                 qtd_download_t **out);
    /* Stop a running download; its done callback follows with QTD_ECANCELED. The bytes on
     * disk stay for a later resume. */
    void (*cancel)(void *self, qtd_download_t *d);
} qtd_download_api_t;

#define QTD_DOWNLOAD_API_V1_SIZE (offsetof(qtd_download_api_t, cancel) + sizeof(void *))

#ifdef __cplusplus
}
#endif
#endif /* QTD_QTHINGD_DOWNLOAD_H */
