-- Valid values of every quecIot configuration setter and getter (seed 3.3-3.4), run by
-- tests/unit/test_cloud_config.c (quecIot_setters_and_getters_accept_valid_values). Any failed
-- check raises, which the test sees as qtd__lua_start() returning QTD_ELUA.
local q = quecIot

local expect = require("expect")
local eq = expect.eq
local same = expect.same

-- 3.3.1 / 3.3.3: the work state follows init().
eq(q.getWorkState(), 0, "work state before init")
eq(q.init(), true, "init")
eq(q.getWorkState(), 1, "work state after init")
eq(q.init(), true, "init again")

-- Defaults before anything is set.
eq(q.getProductinfo(), nil, "product info unset")
same(q.getServer(), {1, "iot-south.quectel.com:1883"}, "default server")
eq(q.getLifetime(), 120, "default lifetime")
eq(q.getPdpContextId(), 1, "default PDP context")
eq(q.getSessionFlag(), false, "default session flag")
same(q.getMcuVersion(), {}, "no MCU versions")
eq(q.getDkDs(), nil, "no DK/DS")
eq(q.getConnmode(), 0, "default connection mode")
assert(q.getSoftVersion():match("^%d+%.%d+%.%d+"), "software version: the agent's")

-- 3.3.1 / 3.3.2 connection mode.
eq(q.setConnmode(1), true, "setConnmode(1)")
eq(q.getConnmode(), 1, "getConnmode after 1")
eq(q.setConnmode(0), true, "setConnmode(0)")
eq(q.getConnmode(), 0, "getConnmode after 0")

-- 3.3.4 event callback.
eq(q.setEventCB(function() end), true, "setEventCB")

-- 3.4.1 / 3.4.2 product info, 32 bytes each at most.
eq(q.setProductinfo("p1116a", "UHg1dTRBRVh3MkVG"), true, "setProductinfo")
same(q.getProductinfo(), {"p1116a", "UHg1dTRBRVh3MkVG", "1.3.0"}, "getProductinfo")
local k32 = string.rep("k", 32)
local s32 = string.rep("s", 32)
eq(q.setProductinfo(k32, s32), true, "setProductinfo 32/32")
same(q.getProductinfo(), {k32, s32, "1.3.0"}, "getProductinfo 32/32")
eq(q.setProductinfo("a", "b"), true, "setProductinfo 1/1")

-- 3.4.3 / 3.4.4 server, every accepted form.
for _, server in ipairs({"127.0.0.1:1883", "mqtt://broker.local:1883",
                         "mqtts://iot.example.com:8883", "http://iot-south.quectel.com:2883",
                         "[::1]:1883", "h:1", "h:65535", "MQTT://upper.case:1883",
                         "a-b_c.d:1"}) do
    eq(q.setServer(1, server), true, "setServer " .. server)
    same(q.getServer(), {1, server}, "getServer " .. server)
end
eq(q.setServer(), true, "setServer()")
same(q.getServer(), {1, "iot-south.quectel.com:1883"}, "setServer() restores the default")
eq(q.setServer(1), true, "setServer(1)")
same(q.getServer(), {1, "iot-south.quectel.com:1883"}, "setServer(1) uses the default server")
eq(q.setServer(nil, "x.y:2"), true, "setServer(nil, server)")
same(q.getServer(), {1, "x.y:2"}, "setServer(nil, server) uses type 1")

-- 3.4.5 / 3.4.6 lifetime 1..65535.
eq(q.setLifetime(1), true, "setLifetime(1)")
eq(q.getLifetime(), 1, "getLifetime 1")
eq(q.setLifetime(65535), true, "setLifetime(65535)")
eq(q.getLifetime(), 65535, "getLifetime 65535")
eq(q.setLifetime(300.0), true, "setLifetime(300.0)")
eq(q.getLifetime(), 300, "getLifetime 300")
eq(q.setLifetime(), true, "setLifetime()")
eq(q.getLifetime(), 120, "setLifetime() restores 120")

-- 3.4.7 / 3.4.8 PDP context: only 1.
eq(q.setPdpContextId(1), true, "setPdpContextId(1)")
eq(q.getPdpContextId(), 1, "getPdpContextId")
eq(q.setPdpContextId(), true, "setPdpContextId()")

-- 3.4.9 / 3.4.10 session flag.
eq(q.setSessionFlag(true), true, "setSessionFlag(true)")
eq(q.getSessionFlag(), true, "getSessionFlag true")
eq(q.setSessionFlag(false), true, "setSessionFlag(false)")
eq(q.getSessionFlag(), false, "getSessionFlag false")
eq(q.setSessionFlag(1), true, "setSessionFlag(1)")
eq(q.getSessionFlag(), true, "getSessionFlag after 1")
eq(q.setSessionFlag(0), true, "setSessionFlag(0)")
eq(q.getSessionFlag(), false, "getSessionFlag after 0")
eq(q.setSessionFlag(true), true, "setSessionFlag(true) again")
eq(q.setSessionFlag(), true, "setSessionFlag()")
eq(q.getSessionFlag(), false, "setSessionFlag() restores false")

-- 3.4.12 / 3.4.13 MCU versions: several components, sorted, replaced by compno.
eq(q.setMcuVersion("MCU1", "1_0_0"), true, "setMcuVersion MCU1")
eq(q.setMcuVersion("A", "v2"), true, "setMcuVersion A")
eq(q.setMcuVersion("MCU1", "1_0_1"), true, "setMcuVersion MCU1 again")
same(q.getMcuVersion(), {{"A", "v2"}, {"MCU1", "1_0_1"}}, "getMcuVersion")
local c32 = string.rep("c", 32)
local v64 = string.rep("v", 64)
eq(q.setMcuVersion(c32, v64), true, "setMcuVersion 32/64")
same(q.getMcuVersion(), {{"A", "v2"}, {"MCU1", "1_0_1"}, {c32, v64}}, "getMcuVersion 32/64")

-- 3.4.14 / 3.4.15 DK/DS (the rules have a test of their own).
eq(q.setDkDs("dev12345", "secret"), true, "setDkDs")
same(q.getDkDs(), {"dev12345", "secret"}, "getDkDs")

-- The connection mode requests above run after this script, with these settings: keep the
-- attempt they make on loopback (a closed port).
eq(q.setServer(1, "127.0.0.1:9"), true, "setServer on loopback")

test.mark()
