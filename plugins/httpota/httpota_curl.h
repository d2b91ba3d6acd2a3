/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libcurl, loaded at the first transfer (qtd_lazylib.h) instead of linked: an agent that
 * never downloads does not map libcurl and what it pulls in (TLS, SSH, LDAP, Kerberos, IDN,
 * HTTP/2: about 4 MiB of RSS and 0.7 MiB of private memory). The plugin's code calls the
 * curl_* names as usual: after this header they are the members of httpota_curl, each of
 * libcurl's own prototype (curl's GCC option type checks are off: they call the functions
 * by name). Include this header instead of <curl/curl.h>.
 */
#ifndef QTD_PLUGINS_HTTPOTA_HTTPOTA_CURL_H
#define QTD_PLUGINS_HTTPOTA_HTTPOTA_CURL_H

#include <curl/curl.h>

#include "qtd_lazylib.h"

/* X(member, libcurl's function): every function of libcurl the plugin calls. */
#define HTTPOTA_CURL_FUNCS(X)                                                                      \
    X(global_init, curl_global_init)                                                               \
    X(easy_init, curl_easy_init)                                                                   \
    X(easy_setopt, curl_easy_setopt)                                                               \
    X(easy_getinfo, curl_easy_getinfo)                                                             \
    X(easy_cleanup, curl_easy_cleanup)                                                             \
    X(easy_strerror, curl_easy_strerror)                                                           \
    X(multi_init, curl_multi_init)                                                                 \
    X(multi_setopt, curl_multi_setopt)                                                             \
    X(multi_add_handle, curl_multi_add_handle)                                                     \
    X(multi_remove_handle, curl_multi_remove_handle)                                               \
    X(multi_assign, curl_multi_assign)                                                             \
    X(multi_socket_action, curl_multi_socket_action)                                               \
    X(multi_info_read, curl_multi_info_read)                                                       \
    X(multi_cleanup, curl_multi_cleanup)                                                           \
    X(slist_append, curl_slist_append)                                                             \
    X(slist_free_all, curl_slist_free_all)

typedef struct {
    HTTPOTA_CURL_FUNCS(QTD_LAZY_FIELD)
} httpota_curl_t;

extern httpota_curl_t httpota_curl;

/* Load libcurl (once; a failed load is tried again at the next call) and curl_global_init
 * it. Returns: 0, or -1 with the reason (what to install) in err. */
int httpota_curl_load(char *err, size_t len);

#undef curl_easy_setopt
#undef curl_easy_getinfo
#undef curl_multi_setopt
#define curl_global_init httpota_curl.global_init
#define curl_easy_init httpota_curl.easy_init
#define curl_easy_setopt httpota_curl.easy_setopt
#define curl_easy_getinfo httpota_curl.easy_getinfo
#define curl_easy_cleanup httpota_curl.easy_cleanup
#define curl_easy_strerror httpota_curl.easy_strerror
#define curl_multi_init httpota_curl.multi_init
#define curl_multi_setopt httpota_curl.multi_setopt
#define curl_multi_add_handle httpota_curl.multi_add_handle
#define curl_multi_remove_handle httpota_curl.multi_remove_handle
#define curl_multi_assign httpota_curl.multi_assign
#define curl_multi_socket_action httpota_curl.multi_socket_action
#define curl_multi_info_read httpota_curl.multi_info_read
#define curl_multi_cleanup httpota_curl.multi_cleanup
#define curl_slist_append httpota_curl.slist_append
#define curl_slist_free_all httpota_curl.slist_free_all

#endif /* QTD_PLUGINS_HTTPOTA_HTTPOTA_CURL_H */
