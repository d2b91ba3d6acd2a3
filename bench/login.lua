-- bench/start.sh and bench/fleet.sh: the least a device does to come online. Parameters come
-- from it_params.lua in lua.lib_path (written by start_agent of tests/integration/lib.sh):
-- server, pk, ps, dk. The first start registers (the DS is then stored); later starts log in
-- with the stored DS. Prints "event 3/10200" (logged as "lua: event 3/10200") once online.
local P = require("it_params")
quecIot.init()
quecIot.setProductinfo(P.pk, P.ps)
quecIot.setServer(1, P.server)
local cur = quecIot.getDkDs()
if cur == nil or cur[1] ~= P.dk then
    quecIot.setDkDs(P.dk, "")
end
quecIot.setEventCB(function(ev)
    if ev[1] == 3 and ev[2] == 10200 then
        print("event 3/10200")
    end
end)
quecIot.setConnmode(1)
