-- qthingd agent configuration: a gateway with a three-phase energy meter on RS-485
-- (Modbus RTU) and an I/O module on the LAN (Modbus TCP), each a sub-device of the
-- gateway on the platform. Same shape as agent.lua; the Modbus keys are described in
-- docs/operations.md ("Modbus") and by `qthingd --help-plugin modbus`.
--
-- Check it (keys, types, ranges, choices, and the register map itself: a type that does
-- not fit its table, an id used twice, a slave naming a line that does not exist):
--   qthingd --check -c /etc/qthingd/modbus-meter.lua
-- A mistake stops the check (and any start) with exit status 2 and names the key, e.g.
--   ERROR modbus: modbus.slaves[1].points[11].type: a coil holds one bit: use type = "bool" (or table = "holding" for a u16)
--
-- Try it without the hardware: `QTD_DEMO=meter ./run.sh` (README) runs this file against the
-- platform simulator, the meter played by pymodbus on a pty pair in place of /dev/ttyUSB0
-- and the I/O module on a loopback Modbus TCP port in place of 192.168.1.50, their
-- readings changing every second; only those two addresses and local paths are changed
-- (build/run/agent.lua).
--
-- The addresses below are an example layout: take yours from the meter's manual.
-- `address` is the 0-based address on the wire: input register 30001 is address 0.
--
-- No script code is needed for the Modbus side: the plugin polls the slaves, reports
-- their values as the sub-devices' thing-model values, turns the platform's writes into
-- register writes (read back and reported) and answers the platform's reads. The script
-- only has to bring the gateway online (example.lua does), and must not call
-- quecIot.subDevConn for these two sub-devices itself.

agent = {
    log_level = "info",
    -- data_dir = "/var/lib/qthingd",
}

lua = {
    script = "example.lua",      -- the gateway's own logic (relative to this file)
}

plugins = {
    { file = "cloud", required = true },
    { file = "modbus", required = true },
}

cloud = {}

modbus = {
    ports = {
        -- RS-485 adapter, 9600 baud, 8 data bits, even parity, 1 stop bit (8E1).
        -- The agent's user needs the dialout group (docs/operations.md, systemd).
        { name = "rs485", mode = "rtu", device = "/dev/ttyUSB0",
          baud = 9600, data_bits = 8, parity = "E", stop_bits = 1 },
        -- A Modbus TCP server on the LAN.
        { name = "lan", mode = "tcp", host = "192.168.1.50", port = 502 },
    },

    poll_ms = 1000,              -- default polling period of a point
    timeout_ms = 500,            -- default answer timeout
    retries = 1,                 -- one more try before a slave counts as not answering

    slaves = {
        -- The energy meter, unit 1 on the RS-485 line: sub-device meter1.
        {
            port = "rs485", unit = 1,
            pk = "pMeterPK",                      -- placeholder: the meter product's key
            ps = "MeterProductSecret0123456789",  -- placeholder: its product secret
            dk = "meter1",
            keepalive_s = 120,
            poll_ms = 2000,
            points = {
                -- Input registers 0..17 (30001..30018) are read in one request.
                { id = 1, table = "input", address = 0, type = "float32", deadband = 0.5 },  -- L1 voltage, V
                { id = 2, table = "input", address = 2, type = "float32", deadband = 0.5 },  -- L2 voltage, V
                { id = 3, table = "input", address = 4, type = "float32", deadband = 0.5 },  -- L3 voltage, V
                { id = 4, table = "input", address = 6, type = "float32", deadband = 0.05 }, -- L1 current, A
                { id = 5, table = "input", address = 8, type = "float32", deadband = 0.05 }, -- L2 current, A
                { id = 6, table = "input", address = 10, type = "float32", deadband = 0.05 }, -- L3 current, A
                { id = 7, table = "input", address = 12, type = "float32", deadband = 10 },  -- total active power, W
                { id = 8, table = "input", address = 14, type = "s16", scale = 0.001,
                  deadband = 0.01 },                                                         -- power factor, -1..1
                { id = 9, table = "input", address = 15, type = "u16", scale = 0.01,
                  deadband = 0.02 },                                                         -- frequency, Hz
                -- Total imported energy, kWh (raw in 0.01 kWh, high word first), once a
                -- minute, every time: a read of its own (another period).
                { id = 10, table = "input", address = 16, type = "u32", word_order = "big",
                  scale = 0.01, poll_ms = 60000, report = "period" },
                -- The meter's relay: the platform may switch it (write single coil, then
                -- read back and reported).
                { id = 11, table = "coil", address = 0, type = "bool", access = "rw" },
                -- Model name, 16 characters in holding registers 40101..40108, read hourly.
                { id = 12, table = "holding", address = 100, type = "string", count = 8,
                  poll_ms = 3600000 },
            },
        },

        -- An I/O module on Modbus TCP, unit 1: sub-device cabinet1.
        {
            port = "lan", unit = 1,
            pk = "pCabinetPK",                    -- placeholder: the I/O product's key
            ps = "CabinetProductSecret01234567",  -- placeholder: its product secret
            dk = "cabinet1",
            poll_ms = 5000,
            timeout_ms = 300,
            points = {
                { id = 1, table = "input", address = 0, type = "s16", scale = 0.1,
                  deadband = 0.2 },                                                -- temperature, °C
                { id = 2, table = "discrete", address = 0, type = "bool" },        -- door open
                { id = 3, table = "coil", address = 0, type = "bool", access = "rw" }, -- fan
                { id = 4, table = "holding", address = 0, type = "u16", access = "rw" }, -- fan threshold, °C
            },
        },
    },
}
