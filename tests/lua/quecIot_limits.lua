-- Every documented limit of the quecIot configuration API: out-of-range or wrongly typed
-- arguments return false (never raise) and leave the stored value alone. Run by
-- tests/unit/test_cloud_config.c (quecIot_limits_are_refused_with_false).
local q = quecIot

local expect = require("expect")
local eq = expect.eq

q.init()

-- Product key and secret: 1..32 bytes, strings.
eq(q.setProductinfo("pk", "ps"), true, "setProductinfo valid")
eq(q.setProductinfo(string.rep("k", 33), "ps"), false, "PK of 33 bytes")
eq(q.setProductinfo("pk", string.rep("s", 33)), false, "PS of 33 bytes")
eq(q.setProductinfo("", "ps"), false, "empty PK")
eq(q.setProductinfo("pk", ""), false, "empty PS")
eq(q.setProductinfo("pk"), false, "missing PS")
eq(q.setProductinfo(nil, "ps"), false, "nil PK")
eq(q.setProductinfo(12, "ps"), false, "number PK")
eq(q.setProductinfo("p k", "ps"), false, "PK with a space")
eq(q.getProductinfo()[1], "pk", "PK unchanged")

-- Server: type 1 only, host:port forms only.
eq(q.setServer(1, "keep.me:1883"), true, "setServer valid")
eq(q.setServer(0, "h:1"), false, "type 0 (LwM2M)")
eq(q.setServer(0), false, "type 0 alone")
eq(q.setServer(2, "h:1"), false, "type 2")
eq(q.setServer("1", "h:1"), false, "type as a string")
eq(q.setServer(1.5, "h:1"), false, "type 1.5")
for _, bad in ipairs({"", "host", ":1883", "host:", "host:0", "host:65536", "host:99999",
                      "host:abc", "host:-1", "ftp://h:1", "tcp://h:1", "mqtt://:1883",
                      "mqtt://", "h o:1", "[::1]1883", "[]:1", "[::1]", "mqtt://h:1/path",
                      "h:1:2", "h\0x:1", string.rep("a", 254) .. ":1"}) do
    eq(q.setServer(1, bad), false, "server '" .. bad .. "'")
end
eq(q.setServer(1, 1883), false, "server as a number")
eq(q.getServer()[2], "keep.me:1883", "server unchanged")

-- Lifetime 1..65535.
eq(q.setLifetime(0), false, "lifetime 0")
eq(q.setLifetime(1), true, "lifetime 1")
eq(q.setLifetime(65535), true, "lifetime 65535")
eq(q.setLifetime(65536), false, "lifetime 65536")
eq(q.setLifetime(-1), false, "lifetime -1")
eq(q.setLifetime(1.5), false, "lifetime 1.5")
eq(q.setLifetime("120"), false, "lifetime as a string")
eq(q.getLifetime(), 65535, "lifetime unchanged")

-- PDP context: only 1.
eq(q.setPdpContextId(1), true, "pdp 1")
eq(q.setPdpContextId(2), false, "pdp 2")
eq(q.setPdpContextId(0), false, "pdp 0")
eq(q.setPdpContextId("1"), false, "pdp as a string")
eq(q.getPdpContextId(), 1, "pdp unchanged")

-- Session flag: booleans, 0 and 1.
eq(q.setSessionFlag(true), true, "session true")
eq(q.setSessionFlag(2), false, "session 2")
eq(q.setSessionFlag("yes"), false, "session 'yes'")
eq(q.setSessionFlag({}), false, "session table")
eq(q.getSessionFlag(), true, "session unchanged")

-- MCU versions: compno 1..32 bytes, version 1..64 bytes.
eq(q.setMcuVersion(string.rep("c", 32), "v"), true, "compno 32")
eq(q.setMcuVersion(string.rep("c", 33), "v"), false, "compno 33")
eq(q.setMcuVersion("c", string.rep("v", 64)), true, "version 64")
eq(q.setMcuVersion("c", string.rep("v", 65)), false, "version 65")
eq(q.setMcuVersion("", "v"), false, "empty compno")
eq(q.setMcuVersion("c", ""), false, "empty version")
eq(q.setMcuVersion("c"), false, "missing version")
eq(q.setMcuVersion(1, "v"), false, "number compno")
eq(#q.getMcuVersion(), 2, "two components kept")

-- DK 0..16 letters/digits, DS 0..32 bytes.
eq(q.setDkDs(string.rep("d", 16), string.rep("s", 32)), true, "DK 16 DS 32")
eq(q.setDkDs(string.rep("d", 17)), false, "DK 17")
eq(q.setDkDs("dk", string.rep("s", 33)), false, "DS 33")
eq(q.setDkDs("dk-1"), false, "DK with '-'")
eq(q.setDkDs(12345), false, "DK as a number")
eq(q.setDkDs("dk", 5), false, "DS as a number")
eq(q.getDkDs()[1], string.rep("d", 16), "DK unchanged")
eq(q.getDkDs()[2], string.rep("s", 32), "DS unchanged")

-- Connection mode 0/1, event callback a function.
eq(q.setConnmode(2), false, "connmode 2")
eq(q.setConnmode(-1), false, "connmode -1")
eq(q.setConnmode("1"), false, "connmode as a string")
eq(q.setConnmode(), false, "connmode missing")
eq(q.getConnmode(), 0, "connmode unchanged")
eq(q.setEventCB(42), false, "eventCB a number")
eq(q.setEventCB(), false, "eventCB missing")

test.mark()
