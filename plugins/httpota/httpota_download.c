/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The downloader (qthingd/download.h): libcurl's multi-socket API on the libuv loop (a
 * uv_poll per socket, one uv_timer for libcurl's timeouts), so no transfer ever blocks the
 * loop. A download appends to its file: at start the bytes already there are hashed again on
 * the thread pool (never trusted blindly) and the transfer resumes after them with a Range
 * request; a server that answers the whole file instead starts the file over. MD5 and
 * SHA-256 (OpenSSL EVP; the ones given to check) follow every byte written, on the thread pool
 * too (one job at a time reads back what the loop wrote), so the loop only receives and
 * writes; size and digests are checked before success, and a file that fails them is removed.
 * Failed transfers are retried with an exponential backoff, the bytes on disk kept. TLS is verified
 * (libcurl's defaults), redirects followed, a stalled transfer cut by the low-speed limit. Not
 * here: what is downloaded or what is done with it.
 */
#include "httpota_download.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "httpota_curl.h"

#define LOG(e, lvl, ...) (e)->api->log((e)->host, (lvl), __VA_ARGS__)
#define PROGRESS_STEP (256 * 1024) /* bytes between two progress callbacks */
#define HASH_BATCH (1024 * 1024)   /* bytes written before the worker hashes them */

typedef struct dl_sock_s {
    uv_poll_t poll;
    curl_socket_t fd;
    dl_engine_t *e;
} dl_sock_t;

struct dl_engine_s {
    const qtd_host_api_t *api;
    qtd_host_t *host;
    dl_opts_t opts;
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer;
    bool timer_open; /* initialised at the first download: a fresh engine has no handle */
    bool stopping;
    qtd_download_t *list;
};

/* One digest of a download, computed by its own job on the thread pool (reading back what
 * the loop wrote): while working, ctx and hashed are the job's. */
typedef struct {
    qtd_download_t *d;
    EVP_MD_CTX *ctx;
    bool on; /* this digest is checked */
    bool working;
    int rc;           /* of the last job: 0 or -errno */
    uint64_t hashed;  /* bytes of the file in ctx */
    uint64_t hash_to; /* what the job hashes up to */
    uv_work_t work;
} dl_hasher_t;

struct qtd_download_s {
    dl_xfer_t xfer; /* first: the engine's handle on it */
    qtd_download_t *next;
    dl_engine_t *e;
    char *url;
    char *path;
    uint64_t size; /* expected, 0: unknown */
    char md5[33];
    char sha256[65];
    qtd_download_progress_cb progress;
    qtd_download_done_cb done;
    void *arg;
    int fd;
    uint64_t bytes;    /* on disk */
    uint64_t reported; /* last progress report */
    bool first_write;  /* of the current transfer */
    bool cancelled;
    bool transfer_pending; /* start a transfer once the digests caught up */
    bool in_write;         /* inside libcurl's write callback (and the progress callback) */
    bool finishing;        /* the transfer ended well: verify once the digests caught up */
    bool end_pending;      /* complete with end_status once the worker is back */
    int end_status;
    int attempts;
    dl_hasher_t h[2]; /* MD5, SHA-256 */
    CURL *easy;
    uv_timer_t retry;
    char errbuf[CURL_ERROR_SIZE];
};

static void begin_transfer(qtd_download_t *d);
static void kick_hash(qtd_download_t *d, bool now);
static void download_done(dl_xfer_t *x, CURL *easy, CURLcode result, long code);
static int sock_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp);
static int timer_cb(CURLM *multi, long timeout_ms, void *userp);

static void on_retry(uv_timer_t *t)
{
    begin_transfer(t->data);
}

/* ---- completion ---- */

static void free_download(uv_handle_t *h)
{
    qtd_download_t *d = h->data;
    dl_engine_t *e = d->e;
    EVP_MD_CTX_free(d->h[0].ctx);
    EVP_MD_CTX_free(d->h[1].ctx);
    e->api->free(e->host, d->url);
    e->api->free(e->host, d->path);
    e->api->free(e->host, d);
}

/* A job of the download is on the thread pool. */
static bool working(const qtd_download_t *d)
{
    return d->h[0].working || d->h[1].working;
}

/* Bytes in every digest that is checked. */
static uint64_t hashed(const qtd_download_t *d)
{
    uint64_t n = d->bytes;
    for (int i = 0; i < 2; i++) {
        if (d->h[i].on && d->h[i].hashed < n) {
            n = d->h[i].hashed;
        }
    }
    return n;
}

/* The end of a download: its done callback, exactly once, then it goes. */
static void complete(qtd_download_t *d, int status)
{
    dl_engine_t *e = d->e;
    for (qtd_download_t **pp = &e->list; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == d) {
            *pp = d->next;
            break;
        }
    }
    if (d->easy != NULL) {
        curl_multi_remove_handle(e->multi, d->easy);
        curl_easy_cleanup(d->easy);
        d->easy = NULL;
    }
    if (d->fd >= 0) {
        close(d->fd);
        d->fd = -1;
    }
    uv_timer_stop(&d->retry);
    d->done(d->arg, status);
    uv_close((uv_handle_t *)&d->retry, free_download);
}

static void hex(const unsigned char *md, unsigned n, char *out)
{
    for (unsigned i = 0; i < n; i++) {
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    }
}

/* The whole file is there: check it against what it must be. */
static void finish(qtd_download_t *d)
{
    dl_engine_t *e = d->e;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    char md5[33] = "";
    char sha[65] = "";
    if (EVP_DigestFinal_ex(d->h[0].ctx, md, &n) == 1) {
        hex(md, n, md5);
    }
    if (EVP_DigestFinal_ex(d->h[1].ctx, md, &n) == 1) {
        hex(md, n, sha);
    }
    /* the digests computed: those that are checked */
    char sums[128];
    snprintf(sums, sizeof(sums), "%s%s%s%s%s", d->md5[0] ? ", MD5 " : "", d->md5[0] ? md5 : "",
             d->sha256[0] ? ", SHA-256 " : "", d->sha256[0] ? sha : "",
             d->md5[0] || d->sha256[0] ? "" : ", no digest given");
    const char *why = NULL;
    if (d->size > 0 && d->bytes != d->size) {
        why = "size";
    } else if (d->md5[0] != '\0' && strcasecmp(d->md5, md5) != 0) {
        why = "MD5";
    } else if (d->sha256[0] != '\0' && strcasecmp(d->sha256, sha) != 0) {
        why = "SHA-256";
    }
    if (why != NULL) {
        LOG(e, QTD_LOG_ERROR,
            "download %s: %s mismatch (%llu bytes%s): the file is removed, nothing of it is used",
            d->url, why, (unsigned long long)d->bytes, sums);
        (void)unlink(d->path);
        complete(d, QTD_EILSEQ);
        return;
    }
    if (fsync(d->fd) != 0) {
        LOG(e, QTD_LOG_WARN, "download %s: fsync: %s", d->path, strerror(errno));
    }
    LOG(e, QTD_LOG_INFO, "download %s: %llu bytes%s: verified", d->url,
        (unsigned long long)d->bytes, sums);
    complete(d, 0);
}

/* ---- libcurl on the loop ---- */

int dl_engine_open(dl_engine_t *e)
{
    if (e->multi != NULL) {
        return 0;
    }
    char err[384];
    if (httpota_curl_load(err, sizeof(err)) != 0) {
        LOG(e, QTD_LOG_ERROR, "downloads cannot start: %s", err);
        return QTD_EIO;
    }
    e->multi = curl_multi_init();
    if (e->multi == NULL) {
        LOG(e, QTD_LOG_ERROR, "downloads cannot start: curl_multi_init failed");
        return QTD_EIO;
    }
    curl_multi_setopt(e->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
    curl_multi_setopt(e->multi, CURLMOPT_SOCKETDATA, e);
    curl_multi_setopt(e->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(e->multi, CURLMOPT_TIMERDATA, e);
    uv_timer_init(e->loop, &e->timer);
    e->timer.data = e;
    e->timer_open = true;
    return 0;
}

/* Complete now, or when the worker hashing the file is back (it uses the download). */
static void end_when_idle(qtd_download_t *d, int status)
{
    if (working(d)) {
        d->end_pending = true;
        d->end_status = status;
        return;
    }
    complete(d, status);
}

/* The transfer ended well: verify once every byte on disk is in the digests. */
static void finish_when_hashed(qtd_download_t *d)
{
    d->finishing = true;
    if (working(d)) {
        return; /* hash_done goes on */
    }
    if (hashed(d) < d->bytes) {
        kick_hash(d, true);
    } else {
        finish(d);
    }
}

/* A download's transfer ended: verify, retry or give up. */
static void download_done(dl_xfer_t *x, CURL *easy, CURLcode result, long code)
{
    qtd_download_t *d = (qtd_download_t *)x;
    dl_engine_t *e = d->e;
    curl_easy_cleanup(easy);
    d->easy = NULL;
    if (result == CURLE_OK) {
        finish_when_hashed(d);
    } else if (code == 416 && d->bytes > 0 && (d->size == 0 || d->bytes == d->size)) {
        finish_when_hashed(d); /* nothing after the bytes we have: the file is whole */
    } else if (result == CURLE_WRITE_ERROR && d->cancelled) {
        end_when_idle(d, QTD_ECANCELED);
    } else if (result == CURLE_WRITE_ERROR && d->size > 0 && d->bytes > d->size) {
        LOG(e, QTD_LOG_ERROR, "download %s: larger than the %llu bytes expected", d->url,
            (unsigned long long)d->size);
        (void)unlink(d->path);
        end_when_idle(d, QTD_EILSEQ);
    } else if (d->attempts < e->opts.retries && !e->stopping) {
        uint64_t wait = dl_backoff_ms(e, d->attempts);
        d->attempts++;
        LOG(e, QTD_LOG_WARN, "download %s: %s (HTTP %ld) at %llu bytes; retry %d of %lld in %.1f s",
            d->url, d->errbuf[0] ? d->errbuf : curl_easy_strerror(result), code,
            (unsigned long long)d->bytes, d->attempts, (long long)e->opts.retries, wait / 1000.0);
        uv_timer_start(&d->retry, on_retry, wait, 0);
    } else {
        LOG(e, QTD_LOG_ERROR,
            "download %s: %s (HTTP %ld) at %llu bytes; giving up (the "
            "bytes stay for a later resume)",
            d->url, d->errbuf[0] ? d->errbuf : curl_easy_strerror(result), code,
            (unsigned long long)d->bytes);
        end_when_idle(d, QTD_EIO);
    }
}

uint64_t dl_backoff_ms(const dl_engine_t *e, int attempt)
{
    return (uint64_t)e->opts.retry_ms << (attempt < 10 ? attempt : 10);
}

static void check_multi(dl_engine_t *e)
{
    CURLMsg *msg;
    int left = 0;
    while ((msg = curl_multi_info_read(e->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE) {
            continue;
        }
        CURL *easy = msg->easy_handle;
        dl_xfer_t *x = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
        CURLcode result = msg->data.result;
        long code = 0;
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
        curl_multi_remove_handle(e->multi, easy);
        x->done(x, easy, result, code);
    }
}

int dl_engine_add(dl_engine_t *e, CURL *easy, dl_xfer_t *x)
{
    if (e->stopping) {
        return QTD_ECANCELED;
    }
    int rc = dl_engine_open(e);
    if (rc != 0) {
        return rc;
    }
    curl_easy_setopt(easy, CURLOPT_PRIVATE, x);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT, (long)e->opts.connect_timeout_s);
    curl_easy_setopt(easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(easy, CURLOPT_LOW_SPEED_TIME, (long)e->opts.low_speed_s);
    return curl_multi_add_handle(e->multi, easy) == CURLM_OK ? 0 : QTD_EIO;
}

void dl_engine_remove(dl_engine_t *e, CURL *easy)
{
    curl_multi_remove_handle(e->multi, easy);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    dl_sock_t *k = h->data;
    int flags = 0;
    if (status < 0) {
        flags = CURL_CSELECT_ERR;
    }
    if (events & UV_READABLE) {
        flags |= CURL_CSELECT_IN;
    }
    if (events & UV_WRITABLE) {
        flags |= CURL_CSELECT_OUT;
    }
    int running = 0;
    dl_engine_t *e = k->e;
    curl_multi_socket_action(e->multi, k->fd, flags, &running);
    check_multi(e);
}

static void free_sock(uv_handle_t *h)
{
    dl_sock_t *k = h->data;
    k->e->api->free(k->e->host, k);
}

static int sock_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    (void)easy;
    dl_engine_t *e = userp;
    dl_sock_t *k = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (k != NULL) {
            uv_poll_stop(&k->poll);
            curl_multi_assign(e->multi, s, NULL);
            uv_close((uv_handle_t *)&k->poll, free_sock);
        }
        return 0;
    }
    if (k == NULL) {
        k = e->api->calloc(e->host, 1, sizeof(*k));
        if (k == NULL || uv_poll_init_socket(e->loop, &k->poll, s) != 0) {
            e->api->free(e->host, k);
            return -1;
        }
        k->fd = s;
        k->e = e;
        k->poll.data = k;
        curl_multi_assign(e->multi, s, k);
    }
    int events = 0;
    if (what & CURL_POLL_IN) {
        events |= UV_READABLE;
    }
    if (what & CURL_POLL_OUT) {
        events |= UV_WRITABLE;
    }
    uv_poll_start(&k->poll, events, on_poll);
    return 0;
}

static void on_timeout(uv_timer_t *t)
{
    dl_engine_t *e = t->data;
    int running = 0;
    curl_multi_socket_action(e->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_multi(e);
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    dl_engine_t *e = userp;
    if (!e->timer_open) {
        return 0;
    }
    if (timeout_ms < 0) {
        uv_timer_stop(&e->timer);
    } else {
        uv_timer_start(&e->timer, on_timeout, (uint64_t)timeout_ms, 0);
    }
    return 0;
}

/* ---- one transfer ---- */

static void reset_digests(qtd_download_t *d)
{
    EVP_DigestInit_ex(d->h[0].ctx, EVP_md5(), NULL);
    EVP_DigestInit_ex(d->h[1].ctx, EVP_sha256(), NULL);
    d->h[0].hashed = d->h[1].hashed = 0;
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    qtd_download_t *d = userdata;
    size_t n = size * nmemb;
    if (d->cancelled) {
        return 0;
    }
    if (d->first_write) {
        d->first_write = false;
        long code = 0;
        curl_easy_getinfo(d->easy, CURLINFO_RESPONSE_CODE, &code);
        if (d->bytes > 0 && code == 200) {
            /* The server ignored the Range: it sends the whole file, so start it over. */
            LOG(d->e, QTD_LOG_WARN, "download %s: the server ignores Range: starting over", d->url);
            if (ftruncate(d->fd, 0) != 0 || lseek(d->fd, 0, SEEK_SET) != 0) {
                return 0;
            }
            d->bytes = 0;
            reset_digests(d);
        }
    }
    if (d->size > 0 && d->bytes + n > d->size) {
        d->bytes += n; /* check_multi says: larger than expected */
        return 0;
    }
    for (size_t off = 0; off < n;) {
        /* at its offset: a short write before an error must not shift what follows */
        ssize_t w = pwrite(d->fd, ptr + off, n - off, (off_t)(d->bytes + off));
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            LOG(d->e, QTD_LOG_ERROR, "download %s: writing %s: %s", d->url, d->path,
                strerror(errno));
            return 0;
        }
        off += (size_t)w;
    }
    d->bytes += n;
    kick_hash(d, false);
    if (d->progress != NULL && d->bytes - d->reported >= PROGRESS_STEP) {
        d->reported = d->bytes;
        d->in_write = true; /* a cancel from here ends the transfer through libcurl */
        d->progress(d->arg, d->bytes, d->size);
        d->in_write = false;
        if (d->cancelled) {
            return 0;
        }
    }
    return n;
}

static void begin_transfer(qtd_download_t *d)
{
    dl_engine_t *e = d->e;
    if (working(d) || hashed(d) < d->bytes) {
        d->transfer_pending = true; /* hash_done starts it */
        kick_hash(d, true);
        return;
    }
    if (d->size > 0 && d->bytes == d->size) {
        finish(d); /* already whole (a resume after the last byte) */
        return;
    }
    d->easy = curl_easy_init();
    if (d->easy == NULL) {
        complete(d, QTD_ENOMEM);
        return;
    }
    CURL *c = d->easy;
    d->errbuf[0] = '\0';
    d->first_write = true;
    d->xfer.done = download_done;
    curl_easy_setopt(c, CURLOPT_URL, d->url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, d);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, d->errbuf);
    curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(c, CURLOPT_BUFFERSIZE, 256L * 1024); /* fewer, larger writes */
    if (d->bytes > 0) {
        curl_easy_setopt(c, CURLOPT_RESUME_FROM_LARGE, (curl_off_t)d->bytes);
        LOG(e, QTD_LOG_INFO, "download %s: resuming at byte %llu", d->url,
            (unsigned long long)d->bytes);
    }
    if (dl_engine_add(e, c, &d->xfer) != 0) {
        curl_easy_cleanup(c);
        d->easy = NULL;
        complete(d, QTD_EIO);
    }
}

/* Thread pool: one digest of the file from hashed to hash_to, reading it back (the page
 * cache has it): the loop only receives and writes, and the two digests run side by side.
 * At a start the same jobs hash what the file holds already, never trusted blindly. */
static void hash_work(uv_work_t *w)
{
    dl_hasher_t *h = w->data;
    char buf[64 * 1024];
    uint64_t at = h->hashed;
    h->rc = 0;
    while (at < h->hash_to) {
        uint64_t left = h->hash_to - at;
        ssize_t r =
            pread(h->d->fd, buf, left < sizeof(buf) ? (size_t)left : sizeof(buf), (off_t)at);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            h->rc = r < 0 ? -errno : -EIO; /* shorter than what was written */
            break;
        }
        EVP_DigestUpdate(h->ctx, buf, (size_t)r);
        at += (uint64_t)r;
    }
    h->hashed = at;
}

static void hash_done(uv_work_t *w, int status);

static void queue_hash(dl_hasher_t *h, uint64_t to)
{
    h->hash_to = to;
    h->working = true;
    if (uv_queue_work(h->d->e->loop, &h->work, hash_work, hash_done) != 0) {
        h->working = false;
        hash_work(&h->work); /* no job for it: hash here, on the loop */
    }
}

/* Hash what was written and is not in a digest yet, unless its job is at it; now: however
 * little it is (else only a batch of HASH_BATCH bytes or more). */
static void kick_hash(qtd_download_t *d, bool now)
{
    for (int i = 0; i < 2; i++) {
        dl_hasher_t *h = &d->h[i];
        if (h->on && !h->working && h->hashed < d->bytes &&
            (now || d->bytes - h->hashed >= HASH_BATCH)) {
            queue_hash(h, d->bytes);
        }
    }
}

static void hash_done(uv_work_t *w, int status)
{
    dl_hasher_t *h = w->data;
    qtd_download_t *d = h->d;
    h->working = false;
    if (status < 0) {
        d->cancelled = true; /* a job is only ever cancelled with its download */
    }
    if (working(d)) {
        return; /* the other job's hash_done goes on */
    }
    if (d->cancelled || d->e->stopping) {
        complete(d, QTD_ECANCELED);
        return;
    }
    if (d->end_pending) {
        complete(d, d->end_status);
        return;
    }
    int rc = d->h[0].rc < 0 ? d->h[0].rc : d->h[1].rc;
    if (rc < 0) {
        LOG(d->e, QTD_LOG_ERROR, "download %s: reading %s back: %s", d->url, d->path,
            strerror(-rc));
        complete(d, QTD_EIO);
        return;
    }
    kick_hash(d, d->finishing || d->transfer_pending);
    if (working(d) || hashed(d) < d->bytes) {
        return; /* hashing on, or waiting for a batch */
    }
    if (d->finishing) {
        finish(d);
    } else if (d->transfer_pending) {
        d->transfer_pending = false;
        begin_transfer(d);
    }
}

/* ---- the service ---- */

static bool is_hex(const char *s, size_t n)
{
    if (strlen(s) != n) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (strchr("0123456789abcdefABCDEF", s[i]) == NULL) {
            return false;
        }
    }
    return true;
}

static int dl_start(void *self, const char *url, const char *path,
                    const qtd_download_check_t *check, qtd_download_progress_cb progress,
                    qtd_download_done_cb done, void *arg, qtd_download_t **out)
{
    dl_engine_t *e = self;
    if (e->stopping) {
        return QTD_ECANCELED;
    }
    if (url == NULL || path == NULL || done == NULL || url[0] == '\0' || path[0] == '\0' ||
        (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0)) {
        return QTD_EINVAL;
    }
    if (check != NULL &&
        ((check->md5 != NULL && check->md5[0] != '\0' && !is_hex(check->md5, 32)) ||
         (check->sha256 != NULL && check->sha256[0] != '\0' && !is_hex(check->sha256, 64)))) {
        return QTD_EINVAL;
    }
    for (qtd_download_t *o = e->list; o != NULL; o = o->next) {
        if (!o->cancelled && strcmp(o->path, path) == 0) {
            return QTD_EBUSY;
        }
    }
    if (dl_engine_open(e) != 0) {
        return QTD_EIO; /* logged */
    }
    qtd_download_t *d = e->api->calloc(e->host, 1, sizeof(*d));
    if (d == NULL) {
        return QTD_ENOMEM;
    }
    d->e = e;
    d->fd = -1;
    size_t ul = strlen(url) + 1;
    size_t pl = strlen(path) + 1;
    d->url = e->api->malloc(e->host, ul);
    d->path = e->api->malloc(e->host, pl);
    d->h[0].ctx = EVP_MD_CTX_new();
    d->h[1].ctx = EVP_MD_CTX_new();
    if (d->url == NULL || d->path == NULL || d->h[0].ctx == NULL || d->h[1].ctx == NULL) {
        goto fail;
    }
    memcpy(d->url, url, ul);
    memcpy(d->path, path, pl);
    if (check != NULL) {
        d->size = check->size;
        snprintf(d->md5, sizeof(d->md5), "%s", check->md5 != NULL ? check->md5 : "");
        snprintf(d->sha256, sizeof(d->sha256), "%s", check->sha256 != NULL ? check->sha256 : "");
    }
    d->progress = progress;
    d->done = done;
    d->arg = arg;
    reset_digests(d);
    d->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (d->fd < 0) {
        LOG(e, QTD_LOG_ERROR, "download %s: cannot open %s: %s", url, path, strerror(errno));
        goto fail;
    }
    /* What the file holds goes through the digests first (a resume); more than the file
     * should hold is dropped: it starts over. */
    struct stat sb;
    if (fstat(d->fd, &sb) != 0 ||
        (d->size > 0 && (uint64_t)sb.st_size > d->size && ftruncate(d->fd, 0) != 0)) {
        LOG(e, QTD_LOG_ERROR, "download %s: %s: %s", url, path, strerror(errno));
        goto fail;
    }
    d->bytes = d->size > 0 && (uint64_t)sb.st_size > d->size ? 0 : (uint64_t)sb.st_size;
    if (lseek(d->fd, (off_t)d->bytes, SEEK_SET) < 0) {
        LOG(e, QTD_LOG_ERROR, "download %s: %s: %s", url, path, strerror(errno));
        goto fail;
    }
    uv_timer_init(e->loop, &d->retry);
    d->retry.data = d;
    for (int i = 0; i < 2; i++) {
        d->h[i].d = d;
        d->h[i].work.data = &d->h[i];
    }
    d->h[0].on = d->md5[0] != '\0';
    d->h[1].on = d->sha256[0] != '\0';
    d->transfer_pending = true; /* after the first job: done never runs inside start */
    d->h[0].hash_to = d->h[0].on ? d->bytes : 0;
    if (uv_queue_work(e->loop, &d->h[0].work, hash_work, hash_done) != 0) {
        close(d->fd);
        uv_close((uv_handle_t *)&d->retry, free_download);
        return QTD_ENOMEM;
    }
    d->h[0].working = true;
    if (d->h[1].on) {
        queue_hash(&d->h[1], d->bytes);
    }
    d->next = e->list;
    e->list = d;
    if (out != NULL) {
        *out = d;
    }
    return 0;

fail:;
    int rc = d->url != NULL && d->path != NULL && d->h[0].ctx != NULL && d->h[1].ctx != NULL
                 ? QTD_EIO
                 : QTD_ENOMEM;
    if (d->fd >= 0) {
        close(d->fd);
    }
    EVP_MD_CTX_free(d->h[0].ctx);
    EVP_MD_CTX_free(d->h[1].ctx);
    e->api->free(e->host, d->url);
    e->api->free(e->host, d->path);
    e->api->free(e->host, d);
    return rc;
}

static void cancel_jobs(qtd_download_t *d)
{
    for (int i = 0; i < 2; i++) {
        if (d->h[i].working) {
            (void)uv_cancel((uv_req_t *)&d->h[i].work);
        }
    }
}

static void dl_cancel(void *self, qtd_download_t *d)
{
    (void)self;
    if (d == NULL || d->cancelled) {
        return;
    }
    d->cancelled = true;
    if (working(d)) {
        cancel_jobs(d); /* the last hash_done completes it */
        return;
    }
    if (d->in_write) {
        return; /* libcurl ends the transfer: download_done completes it */
    }
    complete(d, QTD_ECANCELED);
}

const qtd_download_api_t dl_api = {
    .size = sizeof(qtd_download_api_t),
    .start = dl_start,
    .cancel = dl_cancel,
};

int dl_engine_create(const qtd_host_api_t *api, qtd_host_t *host, const dl_opts_t *opts,
                     dl_engine_t **out)
{
    dl_engine_t *e = api->calloc(host, 1, sizeof(*e));
    if (e == NULL) {
        return QTD_ENOMEM;
    }
    e->api = api;
    e->host = host;
    e->opts = *opts;
    e->loop = api->loop(host);
    *out = e;
    return 0;
}

void dl_engine_stop(dl_engine_t *e)
{
    e->stopping = true;
    while (e->list != NULL) {
        qtd_download_t *d = e->list;
        if (working(d)) {
            /* its last hash_done completes it once the pool hands it back */
            e->list = d->next;
            d->next = NULL;
            d->cancelled = true;
            if (d->easy != NULL) {
                curl_multi_remove_handle(e->multi, d->easy);
                curl_easy_cleanup(d->easy);
                d->easy = NULL;
            }
            uv_timer_stop(&d->retry);
            cancel_jobs(d);
            continue;
        }
        d->cancelled = true;
        complete(d, QTD_ECANCELED);
    }
    if (e->timer_open) {
        uv_close((uv_handle_t *)&e->timer, NULL);
        e->timer_open = false;
    }
}

void dl_engine_free(dl_engine_t *e)
{
    if (e == NULL) {
        return;
    }
    if (e->multi != NULL) {
        curl_multi_cleanup(e->multi);
    }
    e->api->free(e->host, e);
}
