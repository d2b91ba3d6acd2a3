/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The simulator's product registry (see registry.h): load and validate the JSON file, look
 * devices up by client id, and save it atomically with the keys it does not know kept. Not
 * thread-safe; each program owns its own copy and re-reads the file when it changes.
 */
#include "registry.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cJSON.h>

#include "cloud_auth.h"

#define MAX_FILE_BYTES (16 * 1024 * 1024)

static int read_file(const char *path, char **out, struct stat *st, const char **err)
{
    char *buf = NULL;
    size_t got = 0;
    int rc;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        *err = "cannot open the registry file";
        return errno == ENOENT ? -ENOENT : errno == EACCES ? -EACCES : -EIO;
    }
    if (fstat(fd, st) != 0 || st->st_size > MAX_FILE_BYTES) {
        *err = "cannot stat the registry file or it is larger than 16 MiB";
        rc = -EIO;
        goto fail;
    }
    buf = malloc((size_t)st->st_size + 1);
    if (buf == NULL) {
        rc = -ENOMEM;
        goto fail;
    }
    while (got < (size_t)st->st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st->st_size - got);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            *err = "cannot read the registry file";
            rc = -EIO;
            goto fail;
        }
        got += (size_t)n;
    }
    buf[got] = '\0';
    close(fd);
    *out = buf;
    return 0;
fail:
    free(buf);
    close(fd);
    return rc;
}

/* A string member of obj, at most QTD_REG_KEY_MAX long, copied into dst. Missing: "" when
 * optional, an error otherwise. */
static int get_key(const cJSON *obj, const char *name, bool required, char *dst)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);

    dst[0] = '\0';
    if (it == NULL || cJSON_IsNull(it)) {
        return required ? -EINVAL : 0;
    }
    if (!cJSON_IsString(it) || strlen(it->valuestring) > QTD_REG_KEY_MAX) {
        return -EINVAL;
    }
    if (required && it->valuestring[0] == '\0') {
        return -EINVAL;
    }
    strcpy(dst, it->valuestring);
    return 0;
}

static int get_bool(const cJSON *obj, const char *name, bool *dst)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);

    *dst = false;
    if (it == NULL) {
        return 0;
    }
    if (!cJSON_IsBool(it)) {
        return -EINVAL;
    }
    *dst = cJSON_IsTrue(it);
    return 0;
}

static int parse_product(const cJSON *jp, qtd_reg_product_t *p, const char **err)
{
    const cJSON *jdevs;
    const cJSON *jd;

    if (!cJSON_IsObject(jp) || get_key(jp, "pk", true, p->pk) != 0 ||
        get_key(jp, "ps", true, p->ps) != 0) {
        *err = "a product needs \"pk\" and \"ps\" (strings of 1..64 characters)";
        return -EINVAL;
    }
    const cJSON *jgws = cJSON_GetObjectItemCaseSensitive(jp, "gateways");
    const cJSON *jg;
    if (jgws != NULL && (!cJSON_IsArray(jgws) || cJSON_GetArraySize(jgws) > QTD_REG_GATEWAYS_MAX)) {
        *err = "a product's \"gateways\" must be an array of at most 8 PKs";
        return -EINVAL;
    }
    cJSON_ArrayForEach(jg, jgws)
    {
        if (!cJSON_IsString(jg) || jg->valuestring[0] == '\0' ||
            strlen(jg->valuestring) > QTD_REG_KEY_MAX) {
            *err = "a product's \"gateways\" must hold PKs (strings of 1..64 characters)";
            return -EINVAL;
        }
        snprintf(p->gateways[p->ngateways++], QTD_REG_KEY_MAX + 1, "%s", jg->valuestring);
    }
    jdevs = cJSON_GetObjectItemCaseSensitive(jp, "devices");
    if (jdevs == NULL) {
        return 0;
    }
    if (!cJSON_IsArray(jdevs)) {
        *err = "\"devices\" must be an array";
        return -EINVAL;
    }
    cJSON_ArrayForEach(jd, jdevs)
    {
        char dk[QTD_REG_KEY_MAX + 1];
        const cJSON *jcode;
        qtd_reg_device_t *d;

        if (!cJSON_IsObject(jd) || get_key(jd, "dk", true, dk) != 0) {
            *err = "a device needs \"dk\" (a string of 1..64 characters)";
            return -EINVAL;
        }
        if (qtd_registry_device(p, dk) != NULL) {
            *err = "a DK appears twice in one product";
            return -EINVAL;
        }
        d = qtd_registry_device_add(p, dk);
        if (d == NULL) {
            return -ENOMEM;
        }
        if (get_key(jd, "ds", false, d->ds) != 0 || get_bool(jd, "disabled", &d->disabled) != 0) {
            *err = "a device's \"ds\" must be a string (<= 64) and \"disabled\" a boolean";
            return -EINVAL;
        }
        jcode = cJSON_GetObjectItemCaseSensitive(jd, "connect_errcode");
        if (jcode != NULL) {
            if (!cJSON_IsNumber(jcode) || jcode->valuedouble < 0 || jcode->valuedouble > 65535) {
                *err = "a device's \"connect_errcode\" must be a number (0: none)";
                return -EINVAL;
            }
            d->connect_errcode = jcode->valueint;
        }
    }
    return 0;
}

static int parse(qtd_registry_t *reg, const char *text, const char **err)
{
    const cJSON *jprods;
    const cJSON *jp;
    size_t i = 0;
    int n;
    int rc;

    reg->doc = cJSON_Parse(text);
    if (reg->doc == NULL || !cJSON_IsObject(reg->doc)) {
        *err = "the registry file is not a JSON object";
        return -EINVAL;
    }
    if (get_bool(reg->doc, "auto_register", &reg->auto_register) != 0) {
        *err = "\"auto_register\" must be a boolean";
        return -EINVAL;
    }
    jprods = cJSON_GetObjectItemCaseSensitive(reg->doc, "products");
    if (!cJSON_IsArray(jprods)) {
        *err = "the registry needs a \"products\" array";
        return -EINVAL;
    }
    n = cJSON_GetArraySize(jprods);
    reg->products = calloc(n > 0 ? (size_t)n : 1, sizeof(*reg->products));
    if (reg->products == NULL) {
        return -ENOMEM;
    }
    cJSON_ArrayForEach(jp, jprods)
    {
        rc = parse_product(jp, &reg->products[i], err);
        reg->nproducts = ++i;
        if (rc != 0) {
            return rc;
        }
        if (qtd_registry_product(reg, reg->products[i - 1].pk) != &reg->products[i - 1]) {
            *err = "a PK appears twice";
            return -EINVAL;
        }
    }
    return 0;
}

int qtd_registry_load(const char *path, qtd_registry_t **out, const char **err)
{
    const char *dummy;
    qtd_registry_t *reg = NULL;
    char *text = NULL;
    struct stat st;
    int rc;

    if (err == NULL) {
        err = &dummy;
    }
    *err = "out of memory";
    rc = read_file(path, &text, &st, err);
    if (rc != 0) {
        return rc;
    }
    reg = calloc(1, sizeof(*reg));
    if (reg == NULL || (reg->path = strdup(path)) == NULL) {
        rc = -ENOMEM;
        goto fail;
    }
    rc = parse(reg, text, err);
    if (rc != 0) {
        goto fail;
    }
    reg->st_dev = st.st_dev;
    reg->st_ino = st.st_ino;
    reg->st_size = st.st_size;
    reg->st_mtim = st.st_mtim;
    free(text);
    *out = reg;
    return 0;
fail:
    free(text);
    qtd_registry_free(reg);
    return rc;
}

static void clear(qtd_registry_t *reg)
{
    for (size_t i = 0; i < reg->nproducts; i++) {
        free(reg->products[i].devices);
    }
    free(reg->products);
    reg->products = NULL;
    reg->nproducts = 0;
    cJSON_Delete(reg->doc);
    reg->doc = NULL;
}

void qtd_registry_free(qtd_registry_t *reg)
{
    if (reg == NULL) {
        return;
    }
    clear(reg);
    free(reg->path);
    free(reg);
}

int qtd_registry_refresh(qtd_registry_t *reg, bool *changed, const char **err)
{
    qtd_registry_t *fresh = NULL;
    struct stat st;
    char *path;
    int rc;

    *changed = false;
    if (stat(reg->path, &st) == 0 && st.st_dev == reg->st_dev && st.st_ino == reg->st_ino &&
        st.st_size == reg->st_size && st.st_mtim.tv_sec == reg->st_mtim.tv_sec &&
        st.st_mtim.tv_nsec == reg->st_mtim.tv_nsec) {
        return 0;
    }
    rc = qtd_registry_load(reg->path, &fresh, err);
    if (rc != 0) {
        return rc;
    }
    /* Swap the contents, keeping the caller's pointer valid. */
    clear(reg);
    path = reg->path;
    *reg = *fresh;
    free(fresh->path);
    reg->path = path;
    free(fresh);
    *changed = true;
    return 0;
}

static cJSON *find_device_json(cJSON *jdevs, const char *dk)
{
    cJSON *jd;

    cJSON_ArrayForEach(jd, jdevs)
    {
        const cJSON *k = cJSON_GetObjectItemCaseSensitive(jd, "dk");
        if (cJSON_IsString(k) && strcmp(k->valuestring, dk) == 0) {
            return jd;
        }
    }
    return NULL;
}

static int set_member(cJSON *obj, const char *name, cJSON *val)
{
    if (val == NULL) {
        return -ENOMEM;
    }
    if (cJSON_GetObjectItemCaseSensitive(obj, name) != NULL) {
        return cJSON_ReplaceItemInObjectCaseSensitive(obj, name, val) ? 0 : -ENOMEM;
    }
    return cJSON_AddItemToObject(obj, name, val) ? 0 : -ENOMEM;
}

/* Bring reg->doc in step with the structs (products are never added by code). */
static int update_doc(qtd_registry_t *reg)
{
    cJSON *jprods = cJSON_GetObjectItemCaseSensitive(reg->doc, "products");

    for (size_t i = 0; i < reg->nproducts; i++) {
        qtd_reg_product_t *p = &reg->products[i];
        cJSON *jp = cJSON_GetArrayItem(jprods, (int)i);
        cJSON *jdevs = cJSON_GetObjectItemCaseSensitive(jp, "devices");

        if (jdevs == NULL) {
            jdevs = cJSON_AddArrayToObject(jp, "devices");
            if (jdevs == NULL) {
                return -ENOMEM;
            }
        }
        for (size_t j = 0; j < p->ndevices; j++) {
            qtd_reg_device_t *d = &p->devices[j];
            cJSON *jd = find_device_json(jdevs, d->dk);

            if (jd == NULL) {
                jd = cJSON_CreateObject();
                if (jd == NULL || !cJSON_AddItemToArray(jdevs, jd) ||
                    cJSON_AddStringToObject(jd, "dk", d->dk) == NULL) {
                    return -ENOMEM;
                }
            }
            if (d->ds[0] != '\0') {
                if (set_member(jd, "ds", cJSON_CreateString(d->ds)) != 0) {
                    return -ENOMEM;
                }
            } else {
                cJSON_DeleteItemFromObjectCaseSensitive(jd, "ds");
            }
            if (set_member(jd, "disabled", cJSON_CreateBool(d->disabled)) != 0) {
                return -ENOMEM;
            }
            if (d->connect_errcode != 0) {
                if (set_member(jd, "connect_errcode", cJSON_CreateNumber(d->connect_errcode)) !=
                    0) {
                    return -ENOMEM;
                }
            } else {
                cJSON_DeleteItemFromObjectCaseSensitive(jd, "connect_errcode");
            }
        }
    }
    return set_member(reg->doc, "auto_register", cJSON_CreateBool(reg->auto_register));
}

int qtd_registry_save(qtd_registry_t *reg)
{
    char *text = NULL;
    char *tmp = NULL;
    struct stat st;
    size_t len;
    size_t off = 0;
    int fd = -1;
    int rc;

    rc = update_doc(reg);
    if (rc != 0) {
        return rc;
    }
    text = cJSON_Print(reg->doc);
    if (text == NULL || asprintf(&tmp, "%s.tmp.%ld", reg->path, (long)getpid()) < 0) {
        tmp = NULL;
        rc = -ENOMEM;
        goto fail;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = -EIO;
        goto fail;
    }
    /* Keep the file's permissions: the broker may run as another user that reads it. */
    if (stat(reg->path, &st) == 0 && fchmod(fd, st.st_mode & 07777) != 0) {
        rc = -EIO;
        goto fail;
    }
    len = strlen(text);
    text[len++] = '\n'; /* replaces the NUL: written by length */
    while (off < len) {
        ssize_t n = write(fd, text + off, len - off);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            rc = -EIO;
            goto fail;
        }
        off += (size_t)n;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        fd = -1;
        rc = -EIO;
        goto fail;
    }
    fd = -1;
    if (rename(tmp, reg->path) != 0) {
        rc = -EIO;
        goto fail;
    }
    if (stat(reg->path, &st) == 0) {
        reg->st_dev = st.st_dev;
        reg->st_ino = st.st_ino;
        reg->st_size = st.st_size;
        reg->st_mtim = st.st_mtim;
    }
    free(tmp);
    free(text);
    return 0;
fail:
    if (fd >= 0) {
        close(fd);
    }
    if (tmp != NULL) {
        unlink(tmp);
    }
    free(tmp);
    free(text);
    return rc;
}

qtd_reg_product_t *qtd_registry_product(const qtd_registry_t *reg, const char *pk)
{
    for (size_t i = 0; i < reg->nproducts; i++) {
        if (strcmp(reg->products[i].pk, pk) == 0) {
            return &reg->products[i];
        }
    }
    return NULL;
}

qtd_reg_device_t *qtd_registry_device(const qtd_reg_product_t *prod, const char *dk)
{
    for (size_t i = 0; i < prod->ndevices; i++) {
        if (strcmp(prod->devices[i].dk, dk) == 0) {
            return &prod->devices[i];
        }
    }
    return NULL;
}

qtd_reg_device_t *qtd_registry_device_add(qtd_reg_product_t *prod, const char *dk)
{
    qtd_reg_device_t *d = qtd_registry_device(prod, dk);

    if (d != NULL) {
        return d;
    }
    if (strlen(dk) > QTD_REG_KEY_MAX) {
        return NULL;
    }
    if (prod->ndevices == prod->cap) {
        size_t cap = prod->cap ? prod->cap * 2 : 8;
        qtd_reg_device_t *nd = realloc(prod->devices, cap * sizeof(*nd));
        if (nd == NULL) {
            return NULL;
        }
        prod->devices = nd;
        prod->cap = cap;
    }
    d = &prod->devices[prod->ndevices++];
    memset(d, 0, sizeof(*d));
    strcpy(d->dk, dk);
    return d;
}

int qtd_registry_lookup(const qtd_registry_t *reg, const char *clientid, qtd_reg_product_t **prod,
                        qtd_reg_device_t **dev, const char **dk)
{
    qtd_reg_product_t *best = NULL;
    qtd_reg_device_t *best_dev = NULL;
    size_t best_len = 0;

    *prod = NULL;
    *dev = NULL;
    *dk = NULL;
    if (clientid == NULL || strncmp(clientid, "qd", 2) != 0) {
        return -EINVAL;
    }
    clientid += 2;
    for (size_t i = 0; i < reg->nproducts; i++) {
        qtd_reg_product_t *p = &reg->products[i];
        size_t n = strlen(p->pk);
        qtd_reg_device_t *d;

        if (strncmp(clientid, p->pk, n) != 0 || clientid[n] == '\0') {
            continue;
        }
        d = qtd_registry_device(p, clientid + n);
        /* A product knowing the DK beats one that does not; then the longest PK. */
        if (best == NULL || (d != NULL && best_dev == NULL) ||
            ((d != NULL) == (best_dev != NULL) && n > best_len)) {
            best = p;
            best_dev = d;
            best_len = n;
        }
    }
    if (best == NULL) {
        return -ENOENT;
    }
    *prod = best;
    *dev = best_dev;
    *dk = clientid + best_len;
    return 0;
}

bool qtd_registry_dk_valid(const char *dk)
{
    size_t n = strlen(dk);

    if (n == 0 || n > 16) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = dk[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) {
            return false;
        }
    }
    return true;
}

bool qtd_registry_associated(const qtd_reg_product_t *sub, const char *gateway_pk)
{
    for (size_t i = 0; sub != NULL && i < sub->ngateways; i++) {
        if (strcmp(sub->gateways[i], gateway_pk) == 0) {
            return true;
        }
    }
    return false;
}

int qtd_registry_judge_register(const qtd_registry_t *reg, const struct qtd_auth_parsed_s *pw,
                                const qtd_reg_product_t *prod, const qtd_reg_device_t *dev,
                                const char *dk, bool *is_new)
{
    int rc;

    if (prod == NULL || strcmp(pw->pk, prod->pk) != 0) {
        return 10423; /* no such product */
    }
    if (!qtd_registry_dk_valid(dk)) {
        return 10431;
    }
    rc = qtd_auth_register_check(pw, prod->ps, dk);
    if (rc == -EACCES) {
        return 10425; /* signature */
    }
    if (rc != 0) {
        return 10424; /* payload */
    }
    if ((dev != NULL && dev->disabled) || (dev == NULL && !reg->auto_register)) {
        return 10431;
    }
    if (dev != NULL && dev->ds[0] != '\0') {
        return 10422; /* registered already */
    }
    if (dev != NULL && dev->connect_errcode != 0) {
        return dev->connect_errcode;
    }
    *is_new = dev == NULL;
    return 0;
}
