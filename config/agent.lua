-- qthingd agent configuration (installed as /etc/qthingd/agent.lua).
-- A Lua data file: it may only assign values; no library function is available.
-- Relative paths are relative to this file's directory.
-- `qthingd --check -c FILE` validates it; `qthingd --help-config` and
-- `qthingd --help-plugin NAME` list every key with its type, default and range.

agent = {
    log_level = "info",          -- error | warn | info | debug
    syslog = false,              -- true: log to syslog (daemon) instead of stderr
    -- data_dir = "/var/lib/qthingd", -- identity, settings, outbox (qthingd.db, 0600);
    --                                 -- default: <prefix>/var/lib/qthingd (--help-config)
    -- plugin_dir = "/usr/local/lib/qthingd/plugins",
}

lua = {
    script = "example.lua",      -- the device logic, written like the quecIot examples
    memory_mb = 64,              -- the script's memory cap
    instruction_limit = 100000000, -- per call into the script: stops runaway loops
}

store = {
    outbox_cap_mb = 64,          -- kept while offline; beyond it the oldest are dropped
}

-- Plugins in load order (stopped in reverse order). A plugin marked required that
-- cannot be loaded stops the agent from starting; the others are skipped with a warning.
plugins = {
    { file = "cloud", required = true },
    { file = "httpota" },
    { file = "modbus" },
    { file = "gnss" },
}

-- Each plugin's section is named after it.
cloud = {
    reconnect_min_ms = 1000,
    reconnect_max_ms = 120000,
}

modbus = {
    ports = {
        -- { name = "line1", mode = "rtu", device = "/dev/ttyS1", baud = 9600 },
        -- { name = "plc", mode = "tcp", host = "192.168.1.10", port = 502 },
    },
}

gnss = {
    source = "none",             -- none | serial | gpsd | file
}
