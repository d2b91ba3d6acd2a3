/* SPDX-License-Identifier: Apache-2.0 */
/*
 * qthingd's command line: parse options, answer --help, --version, --help-config and
 * --help-plugin, otherwise hand over to the agent (agent.c).
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/paths.h"
#include "agent/alloc.h"
#include "agent/config.h"
#include "agent/log.h"

static void usage(FILE *fp)
{
    fprintf(fp,
            "Usage: qthingd [-c FILE] [--check] [-v]... [--plugin-dir DIR]\n"
            "       qthingd --help-plugin NAME [--plugin-dir DIR]\n"
            "       qthingd --help | --help-config | --version\n"
            "\n"
            "qthingd is an edge agent that connects this device, and the devices wired to it,\n"
            "to the Quectel IoT device-management platform. Plugins (cloud, httpota, modbus,\n"
            "gnss) do the protocol work; the operator's Lua script holds the device logic\n"
            "through the Lua module of the platform's SDK, which the cloud plugin registers\n"
            "and which mirrors that SDK name for name. Every\n"
            "message sent with mode >= 1 is kept in a local database until the platform\n"
            "acknowledges it, so nothing is lost while offline.\n"
            "\n"
            "Options:\n"
            "  -c, --config FILE     the agent config, a Lua data file\n"
            "                        (default %s)\n"
            "      --check           validate the config, the plugins it names and the syntax of\n"
            "                        the script, print the result and exit; starts nothing\n"
            "  -v, --verbose         log one level more (info -> debug); repeatable\n"
            "      --plugin-dir DIR  load plugins named without a '/' from DIR\n"
            "                        (overrides agent.plugin_dir; default %s)\n"
            "      --help-plugin NAME\n"
            "                        print the config keys of plugin NAME (its section in the\n"
            "                        config file) with types, defaults and ranges\n"
            "      --help-config     print the core's config keys (agent, lua, store, plugins)\n"
            "      --config-reference\n"
            "                        print every key of the core and the built-in plugins as\n"
            "                        Markdown (docs/config-reference.md)\n"
            "  -h, --help            print this help and exit\n"
            "  -V, --version         print the version and the plugin ABI, and exit\n"
            "\n"
            "Signals:\n"
            "  SIGINT, SIGTERM       clean shutdown: stop plugins in reverse order, flush the\n"
            "                        store, close everything, exit 0\n"
            "  SIGHUP                reload: the config and the script are checked first (on an\n"
            "                        error the running ones stay); the config unchanged: the\n"
            "                        script is reloaded (the cloud session stays up); changed:\n"
            "                        a clean stop and a start again in place (same pid)\n"
            "\n"
            "Exit status:\n"
            "  0  clean shutdown, or --check found the config valid\n"
            "  1  start-up failed (store, required plugin, ...); the log says why\n"
            "  2  the config or the command line is invalid; nothing was started\n"
            "\n"
            "Files:\n"
            "  %s   default config\n"
            "  %s/qthingd.db   identity, settings, outbox (mode 0600)\n"
            "The defaults are found from where this binary is: an installed tree moved\n"
            "elsewhere, and the build tree, use their own files.\n"
            "\n"
            "See docs/lua-api.md for the Lua API and docs/operations.md for operations.\n",
            qtd__path(QTD_PATH_CONFIG), qtd__path(QTD_PATH_PLUGINS), qtd__path(QTD_PATH_CONFIG),
            qtd__path(QTD_PATH_STATE));
}

static int help_plugin(const char *name, const char *plugin_dir)
{
    const char *dir = plugin_dir != NULL ? plugin_dir : qtd__path(QTD_PATH_PLUGINS);
    char *path = qtd__plugin_path(dir, name);
    qtd_plugin_t *p = NULL;
    int rc = path != NULL ? qtd__plugin_open(path, &p) : QTD_ENOMEM;
    qtd_free(path);
    if (rc < 0) {
        fprintf(stderr, "qthingd: plugin \"%s\" cannot be loaded from %s (see above)\n", name, dir);
        return 2;
    }
    const qtd_plugin_desc_t *d = p->desc;
    printf("Plugin %s %s (ABI %u.%u) from %s\n  %s\n\nConfig keys (section %s = { ... }):\n",
           d->name, d->version ? d->version : "", d->abi_major, d->abi_minor, p->path,
           d->summary ? d->summary : "", d->name);
    if (d->config_map != NULL && d->config_map[0].type != QTD_CFG_END) {
        qtd__config_print_keys(stdout, d->name, d->config_map);
    } else {
        printf("  (none)\n");
    }
    qtd__plugin_close(p);
    return 0;
}

/* docs/config-reference.md: every key of the core and of the built-in plugins, from the
 * tables the config is validated with. */
static int config_reference(const char *plugin_dir)
{
    static const char *const builtin[] = {"cloud", "httpota", "modbus", "gnss"};
    printf("# qthingd configuration reference\n\n"
           "Generated by `qthingd --config-reference` from the key tables the agent validates "
           "the config with (do not edit: `tests/integration/test_config_reference.sh` fails "
           "when this file and the tables differ). docs/operations.md explains the config "
           "file; `qthingd --help-plugin NAME` prints a plugin's keys.\n\n## Core\n");
    qtd__agent_print_core_keys_md();
    const char *dir = plugin_dir != NULL ? plugin_dir : qtd__path(QTD_PATH_PLUGINS);
    for (size_t i = 0; i < sizeof(builtin) / sizeof(builtin[0]); i++) {
        char *path = qtd__plugin_path(dir, builtin[i]);
        qtd_plugin_t *p = NULL;
        int rc = path != NULL ? qtd__plugin_open(path, &p) : QTD_ENOMEM;
        qtd_free(path);
        if (rc < 0) {
            fprintf(stderr, "qthingd: plugin \"%s\" cannot be loaded from %s\n", builtin[i], dir);
            return 2;
        }
        const qtd_plugin_desc_t *d = p->desc;
        printf("\n## %s (plugin %s)\n\n%s.\n\n", d->name, d->version ? d->version : "",
               d->summary ? d->summary : "");
        if (d->config_map != NULL && d->config_map[0].type != QTD_CFG_END) {
            qtd__config_print_keys_md(stdout, d->name, d->config_map);
        }
        qtd__plugin_close(p);
    }
    return 0;
}

int main(int argc, char **argv)
{
    enum { OPT_CHECK = 256, OPT_HELP_PLUGIN, OPT_HELP_CONFIG, OPT_PLUGIN_DIR, OPT_REFERENCE };
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"check", no_argument, NULL, OPT_CHECK},
        {"verbose", no_argument, NULL, 'v'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {"help-plugin", required_argument, NULL, OPT_HELP_PLUGIN},
        {"plugin-help", required_argument, NULL, OPT_HELP_PLUGIN},
        {"help-config", no_argument, NULL, OPT_HELP_CONFIG},
        {"config-reference", no_argument, NULL, OPT_REFERENCE},
        {"plugin-dir", required_argument, NULL, OPT_PLUGIN_DIR},
        {NULL, 0, NULL, 0},
    };
    qtd_agent_opts_t opts = {.config_path = qtd__path(QTD_PATH_CONFIG), .argv = argv};
    const char *help_for = NULL;
    bool reference = false;
    int c;
    while ((c = getopt_long(argc, argv, "c:vVh", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            opts.config_path = optarg;
            break;
        case 'v':
            opts.verbose++;
            break;
        case OPT_CHECK:
            opts.check_only = true;
            break;
        case OPT_PLUGIN_DIR:
            opts.plugin_dir = optarg;
            break;
        case OPT_HELP_PLUGIN:
            help_for = optarg;
            break;
        case OPT_REFERENCE:
            reference = true;
            break;
        case OPT_HELP_CONFIG:
            qtd__agent_print_core_keys();
            return 0;
        case 'V':
            printf("qthingd %s (plugin ABI %d.%d)\n", QTD_VERSION, QTD_PLUGIN_ABI_MAJOR,
                   QTD_PLUGIN_ABI_MINOR);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            fprintf(stderr, "Try 'qthingd --help' for more information.\n");
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr,
                "qthingd: unexpected argument '%s'\n"
                "Try 'qthingd --help' for more information.\n",
                argv[optind]);
        return 2;
    }
    if (help_for != NULL) {
        return help_plugin(help_for, opts.plugin_dir);
    }
    if (reference) {
        return config_reference(opts.plugin_dir);
    }
    return qtd__agent_run(&opts);
}
