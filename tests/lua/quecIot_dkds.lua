-- The DK/DS rules of seed 3.4.14-3.4.15 with this host's default DK, which the test module
-- derives on its own (tests/unit/test_cloud_config.c, quecIot_setDkDs_follows_the_seed_rules).
local q = quecIot
local DEFAULT = test.default_dk()

local expect = require("expect")
local eq = expect.eq

local function dkds(want_dk, want_ds, what)
    local v = q.getDkDs()
    if want_dk == nil then
        eq(v, nil, what)
        return
    end
    eq(type(v), "table", what)
    eq(v[1], want_dk, what .. " dk")
    eq(v[2], want_ds, what .. " ds")
end

q.init()
dkds(nil, nil, "getDkDs before any setDkDs")
eq(q.setDkDs("", "secret"), false, "ds with an empty dk")
eq(q.setDkDs(nil, "secret"), false, "ds with a nil dk")
eq(q.setDkDs(DEFAULT, "secret"), false, "ds with the default dk")
eq(q.setDkDs(""), true, "empty dk while on the default DK")
dkds(nil, nil, "still default")
eq(q.setDkDs(DEFAULT), true, "the default dk itself")
dkds(nil, nil, "default dk is not reported")

eq(q.setDkDs("mydk01"), true, "dk without ds")
dkds("mydk01", "", "dk without ds")
eq(q.setDkDs("mydk01", "s3cr3t"), true, "dk with ds")
dkds("mydk01", "s3cr3t", "dk with ds")
eq(q.setDkDs("otherdk"), true, "another dk")
dkds("otherdk", "", "a new dk drops the old ds")
eq(q.setDkDs("otherdk", "x"), true, "ds again")
eq(q.setDkDs("otherdk", ""), true, "empty ds")
dkds("otherdk", "", "empty ds clears it")

eq(q.setDkDs("otherdk", "x"), true, "ds once more")
eq(q.setDkDs(""), true, "empty dk clears a configured DK/DS")
dkds(nil, nil, "back to the default DK")
eq(q.setDkDs("mydk01", "s"), true, "set again")
eq(q.setDkDs(), true, "nil dk clears too")
dkds(nil, nil, "cleared by nil")
eq(q.setDkDs("mydk01", "s"), true, "set again")
eq(q.setDkDs(DEFAULT), true, "the default dk clears too")
dkds(nil, nil, "cleared by the default dk")

test.mark()
