-- Shared by the integration scripts that drive a device by passthrough (gnss_it.lua,
-- modbus_it.lua, subdev_it.lua): the device comes online with the it_params.lua identity
-- (server, pk, ps, dk), every event of setEventCB is printed as "event <event>/<errcode>",
-- passthrough from the platform (5/10200) is handed to command(text), and every other
-- event to on_event(ev) when one is given.
local P = require("it_params")

return function(command, on_event)
    quecIot.init()
    quecIot.setProductinfo(P.pk, P.ps)
    quecIot.setServer(1, P.server)
    quecIot.setDkDs(P.dk, "")
    quecIot.setEventCB(function(ev)
        print("event " .. ev[1] .. "/" .. ev[2])
        if ev[1] == 5 and ev[2] == 10200 then
            command(ev[3])
        elseif on_event ~= nil then
            on_event(ev)
        end
    end)
    quecIot.setConnmode(1)
end
