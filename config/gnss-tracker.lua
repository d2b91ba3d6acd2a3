-- qthingd agent configuration: an asset tracker. A GNSS receiver on a serial line gives
-- the position; the cellular modem gives the cells around it (LBS), used when the receiver
-- has no fix (indoors, in a tunnel). The gnss plugin reports the location to the platform
-- by itself, by the policies below; the script (tracker.lua) brings the device online,
-- logs the fix and reports the location when the platform asks for it with a passthrough
-- command. Same shape as agent.lua; the GNSS keys are described in docs/operations.md
-- ("GNSS and LBS") and by `qthingd --help-plugin gnss`, the Lua functions in
-- docs/lua-api.md (3.7).
--
-- Check it (keys, types, ranges, choices, the gnss section's own rules, the script's
-- syntax):
--   qthingd --check -c /etc/qthingd/gnss-tracker.lua
--
-- The agent's user needs the dialout group for both serial devices (docs/operations.md,
-- "Running under systemd").
--
-- Try it without the hardware: `QTD_DEMO=tracker ./run.sh` (README) runs this file against
-- the platform simulator, the receiver a pty fed the NMEA of a moving fix once a second in
-- place of /dev/ttyUSB1 and the modem a pty answering AT commands in place of /dev/ttyUSB2;
-- only those two devices and local paths are changed (build/run/agent.lua).

agent = {
    log_level = "info",
    -- data_dir = "/var/lib/qthingd",
}

lua = {
    script = "tracker.lua",      -- the tracker's logic (relative to this file)
}

plugins = {
    { file = "cloud", required = true },
    { file = "gnss", required = true },
}

cloud = {
    -- The modem's AT port: its IMEI is the default device key, its signal and cell are
    -- status and info values, and the gnss plugin reads its cells for LBS through it.
    at_port = "/dev/ttyUSB2",
}

gnss = {
    -- An NMEA receiver on a USB serial adapter, 9600 baud, 8N1 (most receivers' default).
    source = "serial",
    device = "/dev/ttyUSB1",
    baud = 9600,
    silence_s = 5,               -- no valid sentence for 5 s: logged as silent

    -- LBS: the serving cell and its neighbours, read every minute (AT+QENG).
    lbs = true,
    lbs_poll_s = 60,

    -- Report policies: each report is a LOC_REPORT of report_types, stored in the outbox
    -- (mode 1) until the platform has it, so nothing is lost while out of coverage.
    report_every_s = 300,        -- every 5 minutes, parked or not (LBS without a fix)
    report_distance_m = 100,     -- when the fix has moved 100 m since the last report
    report_heading_deg = 30,     -- when the course has turned 30 degrees (at 5 km/h or more)
    report_min_interval_s = 10,  -- distance and heading reports at most every 10 s
    report_types = "AUTO",       -- GGA and RMC with a fix, else the LBS lines
}
