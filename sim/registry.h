/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The simulator's product registry: which products (PK, PS) exist, which devices (DK, DS,
 * disabled) they have and whether unknown DKs of a known product may register. It is a JSON
 * file shared by the broker plugin (reads it, re-reads it when it changes) and the platform
 * process (the only writer: device secrets, disabled flags), saved atomically (temp file +
 * rename). Keys it does not know are kept across a save. No MQTT, no logging; plain
 * malloc, so both programs can link it.
 *
 *   {"products": [{"pk": "p1116a", "ps": "UHg1dTRBRVh3MkVG",
 *                  "devices": [{"dk": "dev1", "ds": "<secret>", "disabled": false,
 *                               "connect_errcode": 10429}]}],
 *    "auto_register": true}
 * connect_errcode (optional) makes the platform answer the device's connections with that
 * error (throttling 10428/10429 and the like) although its password is right.
 */
#ifndef QTD_SIM_REGISTRY_H
#define QTD_SIM_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#define QTD_REG_KEY_MAX 64 /* longest PK, PS, DK or DS kept */

typedef struct qtd_reg_device_s {
    char dk[QTD_REG_KEY_MAX + 1];
    char ds[QTD_REG_KEY_MAX + 1]; /* "" when the device has no secret (not registered) */
    bool disabled;
    int connect_errcode; /* not 0: answer every connection with EXCE_WRITE of this code */
} qtd_reg_device_t;

#define QTD_REG_GATEWAYS_MAX 8 /* gateway products a sub-device product may attach to */

typedef struct qtd_reg_product_s {
    char pk[QTD_REG_KEY_MAX + 1];
    char ps[QTD_REG_KEY_MAX + 1];
    /* "gateways": the PKs of the gateway products whose devices may bring devices of this
     * product on as sub-devices (the association; none: not a sub-device product). */
    char gateways[QTD_REG_GATEWAYS_MAX][QTD_REG_KEY_MAX + 1];
    size_t ngateways;
    qtd_reg_device_t *devices;
    size_t ndevices;
    size_t cap;
} qtd_reg_product_t;

struct cJSON;

typedef struct qtd_registry_s {
    struct cJSON *doc; /* the file as parsed: keys we do not know survive a save */
    qtd_reg_product_t *products;
    size_t nproducts;
    bool auto_register;
    char *path;
    /* Identity of the file last loaded, to notice a change (rename gives a new inode). */
    dev_t st_dev;
    ino_t st_ino;
    off_t st_size;
    struct timespec st_mtim;
} qtd_registry_t;

/* May a device of product gateway_pk bring devices of sub on as its sub-devices? */
bool qtd_registry_associated(const qtd_reg_product_t *sub, const char *gateway_pk);

struct qtd_auth_parsed_s;
/* The platform's verdict on a registration password pw (docs/protocol.md) for the device dk
 * of product prod (NULL: unknown) whose registry entry is dev (NULL: none yet): 0 (accepted;
 * *is_new when the device is not in the registry yet) or the seed's code: 10423 no product,
 * 10431 DK refused or device disabled, 10425 signature, 10424 payload, 10422 registered
 * already, or the device's connect_errcode. Shared by the broker plugin (devices) and the
 * simulator (sub-devices). */
int qtd_registry_judge_register(const qtd_registry_t *reg, const struct qtd_auth_parsed_s *pw,
                                const qtd_reg_product_t *prod, const qtd_reg_device_t *dev,
                                const char *dk, bool *is_new);

/* Load the registry file at path into *out (free with qtd_registry_free). On failure *err
 * (if not NULL) gets a static text naming the problem.
 * Returns: 0, -ENOENT (no file), -EACCES, -EIO, -EINVAL (not the expected JSON), -ENOMEM. */
int qtd_registry_load(const char *path, qtd_registry_t **out, const char **err);

/* Release a registry. Accepts NULL. */
void qtd_registry_free(qtd_registry_t *reg);

/* Re-read the file if it changed since it was loaded (inode, size or mtime). On success
 * *changed says whether it was re-read; on failure the loaded registry is kept.
 * Returns: 0, or an error of qtd_registry_load. */
int qtd_registry_refresh(qtd_registry_t *reg, bool *changed, const char **err);

/* Write the registry to its file atomically (path.tmp.PID, fsync, rename), keeping the
 * permissions of the file it replaces (0600 if there is none).
 * Returns: 0, -EIO, -ENOMEM. */
int qtd_registry_save(qtd_registry_t *reg);

/* Find the product and device a client id "qd<PK><DK>" names. The product is the one whose
 * PK prefixes the rest of the id leaving a non-empty DK: a product that knows that DK wins,
 * then the longest PK. *dk points into clientid. *dev is NULL when the product does not know
 * the DK. Returns: 0, -EINVAL (not "qd..."), -ENOENT (no product matches). */
int qtd_registry_lookup(const qtd_registry_t *reg, const char *clientid, qtd_reg_product_t **prod,
                        qtd_reg_device_t **dev, const char **dk);

/* The product with exactly this PK, or NULL. */
qtd_reg_product_t *qtd_registry_product(const qtd_registry_t *reg, const char *pk);

/* The device dk of a product, or NULL. */
qtd_reg_device_t *qtd_registry_device(const qtd_reg_product_t *prod, const char *dk);

/* The device dk of a product, added (no secret, enabled) if missing.
 * Returns: the device, NULL on -ENOMEM or a DK longer than QTD_REG_KEY_MAX. */
qtd_reg_device_t *qtd_registry_device_add(qtd_reg_product_t *prod, const char *dk);

/* Is dk acceptable as a device key: 1..16 characters of [0-9A-Za-z]? */
bool qtd_registry_dk_valid(const char *dk);

#endif /* QTD_SIM_REGISTRY_H */
