/* SPDX-License-Identifier: Apache-2.0 */
/*
 * qthingd-sim's entry point: main, the table of subcommands {name, fn, usage, help} that
 * dispatches them and prints the SYNOPSIS and COMMANDS sections of --help, the rest of that
 * manual page, and the command-line helpers the subcommands share. qthingd-sim is the
 * platform side of docs/protocol.md for tests and local runs (`run`, sim_platform.c) plus
 * tools for tests (sim_tools.c). Not here: what any subcommand does, nor the control
 * messages (sim_ctl.c prints their section of --help from its own table).
 */
#include "sim.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- the manual page of --help: its fixed parts, around what usage() prints from tables */

/* After SYNOPSIS. */
static const char usage_description[] =
    "DESCRIPTION\n"
    "    The real platform is not reachable from a test bench, so qthingd-sim plays its side of\n"
    "    the wire (docs/protocol.md) over a real mosquitto broker. The broker authenticates\n"
    "    devices itself through the plugin qtd_mosq_auth.so against the product registry and\n"
    "    confines every device to its own q/1/d/qd<PK><DK>/... (downlink) and\n"
    "    q/2/d/qd<PK><DK>/{sys,bus,ota} (uplink) topics; it reports each verdict to this\n"
    "    process on qtd-sim/auth. Until this process has subscribed to the devices' uplinks,\n"
    "    the broker closes device connections without an answer (like a platform whose backend\n"
    "    is down), so no uplink is acknowledged and lost. Devices connect with client id\n"
    "    qd<PK><DK>, any username but\n"
    "    \"qtd-sim\" (mosquitto refuses a password without a username in MQTT 3.1.1, so send an\n"
    "    empty one) and the registration or login password of docs/protocol.md.\n"
    "\n";

/* After CONTROL MESSAGES. */
static const char usage_tail[] =
    "\n"
    "LOG (--log FILE.jsonl, one JSON object per line, flushed per line)\n"
    "    Every line has \"ts\" (Unix time in ms). A frame:\n"
    "      {\"ts\", \"dir\": \"up\"|\"down\", \"client\", \"pk\", \"dk\",\n"
    "       \"topic\", \"qos\", \"pkgid\", \"cmd\": 20, \"cmd_name\": \"TSL_EVENT\",\n"
    "       \"data\": {\"1\": true, \"2\": 25, \"3\": 12.5}[, \"encrypted\": true|false]}\n"
    "    \"encrypted\" is there for devices of session flag 1 only; the frame shown is always\n"
    "    the decrypted one.\n"
    "    data: TTLV as an object keyed by id strings (floats always show '.' or an exponent;\n"
    "    arrays as arrays; text as strings; other bytes as {\"hex\"}), id lists as arrays,\n"
    "    passthrough as {\"hex\", \"text\" (when UTF-8)}. A malformed frame has \"error\"\n"
    "    (protocol, length, checksum, command, unformattable, or decrypt: an uplink that does\n"
    "    not decrypt with the session key), \"detail\" and \"hex\" instead of data. An uplink\n"
    "    on the wrong topic type has \"warning\". Device secrets and session keys in\n"
    "    DEV_CONFIG_WRITE are shown as \"<redacted>\". Events:\n"
    "      {\"ts\", \"event\": \"registered\", \"client\", \"pk\", \"dk\",\n"
    "       \"kind\", \"errcode\", \"flag\", \"new\": true|false}\n"
    "      {\"ts\", \"event\": E, \"client\", \"pk\", \"dk\", \"kind\": K, \"errcode\", \"flag\"}\n"
    "         E: login, auth_fail or login_refused; K: register or login\n"
    "      {\"ts\", \"event\": \"offline\", \"client\", \"pk\", \"dk\"}\n"
    "      {\"ts\", \"event\": \"session\", \"client\", \"pk\", \"dk\", \"state\": S}\n"
    "         S: sent (the key went out: downlinks are encrypted from now on), confirmed\n"
    "         (the first uplink that decrypts) or dropped (the connection it was for is gone)\n"
    "      {\"ts\", \"event\": \"ctl\", \"cmd\", \"ok\"[, \"error\"][, \"pkgid\"]}\n"
    "      {\"ts\", \"event\": \"ota\", \"client\", \"pk\", \"dk\", \"state\": S}\n"
    "         S: notified, fw_info_sent (or fw_info_not_sent), refused, updated or failed\n"
    "      {\"ts\", \"event\": \"subdev\", \"client\", \"pk\", \"dk\", \"state\": S}\n"
    "         S: authenticated, auth_refused, login, login_refused, logout, deauthenticated,\n"
    "         dropped (\"sub_offline\") or offline (its gateway's connection ended); a\n"
    "         sub-device's frames have \"gateway\".\n"
    "         Sub-device products name their gateway products in the registry:\n"
    "         {\"pk\", \"ps\", \"gateways\": [\"<gateway PK>\"], \"devices\": [...]}\n"
    "      {\"ts\", \"event\": \"stats\", \"devices\": {CLIENT: {\"pk\", \"dk\", \"online\",\n"
    "       \"session\": \"none\"|\"sent\"|\"confirmed\", \"up\": {NAME: n}, \"down\": {NAME: n},\n"
    "       \"up_errors\", \"down_errors\", \"up_plain\"}}}\n"
    "      {\"ts\", \"event\": E, \"message\"}\n"
    "         E: started, connected, disconnected, stopped, warning or error\n"
    "    Standard error gets one readable line per frame and event (not with --quiet).\n"
    "\n"
    "SESSION ENCRYPTION (session flag 1: password \"0;0001;...\" or \"1;0001;...\")\n"
    "    For every accepted connection with flag 1 the platform draws a new random 16-byte\n"
    "    session key and sends it as DEV_CONFIG_WRITE 0x00B4 id 6 (bytes) = AES-128-CBC(key =\n"
    "    DS[0:16], IV = SHA256(DS)[0:16], PKCS#7) of the 16 key bytes: after a registration in\n"
    "    the same frame as the DS, {5: DS, 6: key} (the device reads id 5 first); after a\n"
    "    login alone, right after the verdict. That 0x00B4 itself is not encrypted. From then\n"
    "    on every downlink to the device is AES-128-CBC(session key, IV = SHA256(key)[0:16],\n"
    "    PKCS#7) of the frame, and uplinks are decrypted the same way. An uplink of a flag-1\n"
    "    device is taken:\n"
    "      - decrypted, when it decrypts and the result is a well-formed frame (header,\n"
    "        length, checksum); the first such uplink confirms the key;\n"
    "      - plain, while no key was sent (as with flag 0), or when it is a frame as it is\n"
    "        and the key is not confirmed yet (no encrypted uplink seen): the device sends\n"
    "        plain until the key has reached it (after a login its first status and info\n"
    "        reports always go before the key can arrive), so these are accepted, logged\n"
    "        with \"encrypted\": false and counted as up_plain;\n"
    "      - otherwise (a plain frame after the key was confirmed, or bytes that are neither):\n"
    "        an error line and a frame line with \"error\": \"decrypt\"; counted in up_errors.\n"
    "    The key lives for the connection: a new connection (verdict) or a disconnect forgets\n"
    "    it, and a pending 0x00B4 for a connection that is gone is dropped, not sent.\n"
    "\n"
    "REGISTRY (--registry FILE, shared with the broker plugin)\n"
    "    {\"products\": [{\"pk\": \"p1116a\", \"ps\": \"UHg1dTRBRVh3MkVG\",\n"
    "                   \"devices\": [{\"dk\": \"dev1\", \"ds\": \"<secret>\",\n"
    "                                \"disabled\": false, \"connect_errcode\": 0}]}],\n"
    "     \"auto_register\": true}\n"
    "    auto_register lets unknown DKs of a known product register; a device's\n"
    "    connect_errcode (optional) answers its connections with that error (10428, 10429).\n"
    "    qthingd-sim is its only writer (temp file + rename); the plugin re-reads it when it\n"
    "    changes.\n"
    "\n"
    "EXIT STATUS\n"
    "    0 success; 1 failure (broker unreachable or refusing, malformed input, negative\n"
    "    reply); 2 usage error.\n"
    "\n"
    "ENVIRONMENT\n"
    "    QTD_SIM_PASSWORD    the platform password when --password is not given\n"
    "\n"
    "EXAMPLE\n"
    "    qthingd-sim broker-conf --port 18830 --registry reg.json --password s3 \\\n"
    "        --plugin build/sim/qtd_mosq_auth.so > mosq.conf && mosquitto -c mosq.conf &\n"
    "    qthingd-sim run --broker 127.0.0.1:18830 --password s3 --registry reg.json \\\n"
    "        --log sim.jsonl &\n"
    "    qthingd-sim ctl --broker 127.0.0.1:18830 --password s3 \\\n"
    "        '{\"cmd\": \"tsl_write\", \"dk\": \"dev1\", \"data\": {\"24\": true}}'\n";

/* ---- command-line helpers */

int64_t sim_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

char *sim_server_uri(const char *broker)
{
    char *uri = NULL;

    if (strstr(broker, "://") != NULL) {
        return strdup(broker);
    }
    if (asprintf(&uri, "tcp://%s", broker) < 0) {
        return NULL;
    }
    return uri;
}

int sim_usage_error(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "qthingd-sim: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n(see qthingd-sim --help)\n");
    return SIM_EXIT_USAGE;
}

bool sim_parse_int(const char *text, long lo, long hi, long *out)
{
    char *end = NULL;
    long v;

    errno = 0;
    v = strtol(text, &end, 0);
    if (errno != 0 || end == text || *end != '\0' || v < lo || v > hi) {
        return false;
    }
    *out = v;
    return true;
}

/* ---- subcommands */

/* The subcommands, in the order of --help: usage follows "qthingd-sim <name> " in SYNOPSIS,
 * help follows "  <name>" in COMMANDS. */
static const struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *usage;
    const char *help;
} subcmds[] = {
    {"run", sim_cmd_run,
     "--broker HOST:PORT --password SECRET --registry FILE --log FILE.jsonl\n"
     "                    [--reg-delay-ms MS] [--client-id ID] [--quiet]",
     "\n"
     "    Be the platform until SIGINT or SIGTERM (exit 0). Connects as \"qtd-sim\" with the\n"
     "    platform password (trying for 10 s while the broker starts) and subscribes\n"
     "    qtd-sim/auth, qtd-sim/ctl and q/2/d/+/+; reconnects when the broker goes away.\n"
     "    Its session is persistent (client id \"qtd-sim\" unless --client-id, clean\n"
     "    session off): what devices sent while it restarted reaches it when it is back.\n"
     "    On a verdict:\n"
     "      registration accepted: a new device secret (32 hex characters) is stored in the\n"
     "        registry file (atomically) and, --reg-delay-ms later (default 100), sent to the\n"
     "        device as DEV_CONFIG_WRITE 0x00B4 {5: DS} on q/1/d/<client>/sys (with flag 1:\n"
     "        {5: DS, 6: session key}, see SESSION ENCRYPTION);\n"
     "      login accepted: nothing is sent (with flag 1: 0x00B4 {6: session key} at once);\n"
     "      failure with a seed error code (10420 request, 10422 already registered, 10423\n"
     "        unknown product, 10424 payload, 10425 signature, 10431 DK refused or device\n"
     "        disabled, 10433 session flag, or the device's connect_errcode of the registry):\n"
     "        EXCE_WRITE 0x00A3 {1: errcode, 2: 0, 3: PK, 4: DK}\n"
     "        on q/1/d/<client>/sys, --reg-delay-ms after the device subscribed;\n"
     "      login with a wrong or unknown secret: the broker refused it (CONNACK 5); logged.\n"
     "    Every uplink frame is decoded and logged; control messages send downlinks.\n"},
    {"ctl", sim_cmd_ctl, "--broker HOST:PORT --password SECRET [--reply] [--timeout SEC] JSON",
     " JSON\n"
     "    Publish one control message on qtd-sim/ctl and exit 0 once the broker acknowledged\n"
     "    it. With --reply, wait (--timeout, default 10 s) for the answer on qtd-sim/reply,\n"
     "    print it and exit 0 if it says \"ok\": true, 1 otherwise.\n"},
    {"password", sim_cmd_password, "--pk PK --ps PS --dk DK [--ds DS] [--flag 0|1] [--rand RAND]",
     "\n"
     "    Print a device's MQTT password: the login password when --ds is given, else the\n"
     "    registration password. --rand fixes the 16 random characters (default: random).\n"},
    {"broker-conf", sim_cmd_broker_conf,
     "--port PORT --registry FILE --password SECRET --plugin PATH\n"
     "                    [--bind ADDR] [--user NAME]",
     "\n"
     "    Print a mosquitto.conf: listener PORT on ADDR (default 127.0.0.1), no anonymous\n"
     "    clients, no persistence, the plugin PATH with its registry and platform password,\n"
     "    and \"user NAME\" (default: the user running this command, so that a broker started\n"
     "    as root keeps the rights to read the registry instead of becoming \"mosquitto\").\n"},
    {"frame", sim_cmd_frame,
     "--cmd CMD [--pkgid N] [--tsl JSON | --ids LIST | --hex HEX |\n"
     "                    --text TEXT] [--raw] [--corrupt-sum]",
     "\n"
     "    Print one encoded frame in hex (or raw bytes with --raw): CMD is a name (TSL_EVENT)\n"
     "    or a number (0x0014); the payload is TTLV from --tsl (a JSON object keyed by TSL\n"
     "    ids), u16 ids from --ids 1,2,3, raw --hex bytes or --text. --corrupt-sum breaks the\n"
     "    checksum (for malformed-frame tests).\n"},
    {"decode", sim_cmd_decode, "[--hex HEX | --hex -]",
     "\n"
     "    Decode one frame (raw bytes on standard input, or --hex HEX, or hex text on standard\n"
     "    input with --hex -) and print it as one JSON line; exit 1 if it is malformed.\n"},
    {"ota-server", sim_cmd_ota_server,
     "--port PORT --registry FILE --plans FILE --log FILE.jsonl [--quiet]",
     "\n"
     "    Be the HTTP OTA plan service (docs/protocol.md) on 127.0.0.1:PORT until SIGINT or\n"
     "    SIGTERM. POST /v1/ota/plan {pk, dk, battery, upmode, version, mcuVersions, rand,\n"
     "    signature}: 10708 when a field is missing, 10709 for an unknown product, 10710 when\n"
     "    signature is not Base64(SHA256(\"DK;PS;RAND\")) with the registry's PS; else the\n"
     "    entry of (pk, dk) in the plans file, read again at every request:\n"
     "      {\"plans\": [{\"pk\", \"dk\", \"code\": 0, \"retryInterval\": S, \"plan\": {\"url\",\n"
     "        \"size\", \"md5\", \"sha256\", \"targetVersion\", \"componentNo\"}}]}\n"
     "    answered as {\"code\", [\"retryInterval\",] [\"plan\" when code is 0]}, 10700 when\n"
     "    there is none or the request's version is its targetVersion already. POST /v1/ota/status "
     "{pk, dk, event, errcode}: {\"code\": 0}. Each\n"
     "    request is a log line {\"event\": \"http_ota_plan\", \"pk\", \"dk\", \"version\",\n"
     "    \"battery\", \"upmode\", \"code\"} or {\"event\": \"http_ota_status\", \"pk\", \"dk\",\n"
     "    \"ota_event\", \"errcode\"}.\n"},
};
#define NSUBCMDS (sizeof(subcmds) / sizeof(subcmds[0]))

/* The manual page of --help: SYNOPSIS, COMMANDS and CONTROL MESSAGES from their tables. */
static void usage(FILE *fp)
{
    fputs("NAME\n"
          "    qthingd-sim - the simulated Quectel IoT platform (DMP) for qthingd\n"
          "\n"
          "SYNOPSIS\n",
          fp);
    for (size_t i = 0; i < NSUBCMDS; i++) {
        fprintf(fp, "    qthingd-sim %s %s\n", subcmds[i].name, subcmds[i].usage);
    }
    fputs("    qthingd-sim --help | --version\n\n", fp);
    fputs(usage_description, fp);
    fputs("COMMANDS\n", fp);
    for (size_t i = 0; i < NSUBCMDS; i++) {
        fprintf(fp, "  %s%s", subcmds[i].name, subcmds[i].help);
    }
    fputs("\n", fp);
    sim_ctl_help(fp);
    fputs(usage_tail, fp);
}

int main(int argc, char **argv)
{
    const char *cmd;

    if (argc < 2) {
        usage(stderr);
        return SIM_EXIT_USAGE;
    }
    cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0) {
        printf("qthingd-sim %s\n", QTD_SIM_VERSION);
        return 0;
    }
    /* getopt_long sees the subcommand as argv[0]. */
    argc--;
    argv++;
    for (size_t i = 0; i < NSUBCMDS; i++) {
        if (strcmp(cmd, subcmds[i].name) == 0) {
            return subcmds[i].fn(argc, argv);
        }
    }
    return sim_usage_error("unknown command \"%s\"", cmd);
}
