/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Error codes shared by the agent and its plugins. Every fallible function returns 0 on
 * success or a negative QTD_E* code. The values coincide with libuv's UV_E* (and -errno)
 * on Unix, so libuv errors pass through unchanged. The text of a code is obtained from the
 * host API (qtd_host_api_t.strerror) by plugins and from qtd_strerror() inside the agent.
 */
#ifndef QTD_QTHINGD_ERRORS_H
#define QTD_QTHINGD_ERRORS_H

#include <errno.h>

#ifdef __cplusplus
extern "C" {
#endif

/* XX(name, value, text). Values from errno.h so they equal UV_E* on Unix. */
#define QTD_ERRNO_MAP(XX)                                                                          \
    XX(EPERM, -EPERM, "operation not permitted")                                                   \
    XX(ENOENT, -ENOENT, "no such file, key or entry")                                              \
    XX(EIO, -EIO, "input/output error")                                                            \
    XX(E2BIG, -E2BIG, "argument too long")                                                         \
    XX(EBADF, -EBADF, "bad file or handle")                                                        \
    XX(EAGAIN, -EAGAIN, "resource temporarily unavailable")                                        \
    XX(ENOMEM, -ENOMEM, "not enough memory")                                                       \
    XX(EACCES, -EACCES, "permission denied")                                                       \
    XX(EBUSY, -EBUSY, "resource busy")                                                             \
    XX(EEXIST, -EEXIST, "already exists")                                                          \
    XX(EINVAL, -EINVAL, "invalid argument")                                                        \
    XX(ENOSPC, -ENOSPC, "no space left (cap reached)")                                             \
    XX(ERANGE, -ERANGE, "value out of range")                                                      \
    XX(ENOSYS, -ENOSYS, "function not implemented")                                                \
    XX(ENOTSUP, -ENOTSUP, "operation not supported")                                               \
    XX(EPROTO, -EPROTO, "protocol error")                                                          \
    XX(EMSGSIZE, -EMSGSIZE, "message too long")                                                    \
    XX(ETIMEDOUT, -ETIMEDOUT, "timed out")                                                         \
    XX(ECANCELED, -ECANCELED, "operation canceled")                                                \
    XX(ENOTCONN, -ENOTCONN, "not connected")                                                       \
    XX(ECONNREFUSED, -ECONNREFUSED, "connection refused")                                          \
    XX(EILSEQ, -EILSEQ, "illegal byte sequence")                                                   \
    XX(EABI, -4001, "plugin ABI mismatch")                                                         \
    XX(ECONFIG, -4002, "invalid configuration")                                                    \
    XX(ELUA, -4003, "Lua script error")                                                            \
    XX(ECORRUPT, -4004, "database file corrupt")

typedef enum {
#define QTD_ERR_ENUM_(name, value, text) QTD_##name = (value),
    QTD_ERRNO_MAP(QTD_ERR_ENUM_)
#undef QTD_ERR_ENUM_
        QTD_ERRNO_MAX_ = -5000
} qtd_errno_t;

#ifdef __cplusplus
}
#endif
#endif /* QTD_QTHINGD_ERRORS_H */
