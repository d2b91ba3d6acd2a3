-- Integration script for tests/integration/test_modbus.sh: a gateway (the cloud_it.lua
-- identity parameters from it_params.lua: server, pk, ps, dk) whose Modbus slaves the
-- modbus plugin brings on as sub-devices. It prints every sub-device event as
-- "sub event <pk> <dk> <event>/<errcode> [value]" and every Modbus event as
-- "mb event <pk> <dk> <event>/<errcode> [value]".
-- More parameters:
--   serial = "/dev/pts/N", uart = 7: the seed's path (quecIot.MBInit): the bytes of the
--     script-driven line with that uart number are moved between sendFunc / MBDataRecv and
--     the serial line (modbus.serialOpen); initCb's data is printed as "mb init <value>".
--   hook_dk = "mbx": the script's hooks for that sub-device's points with script = true:
--     their values (event 2) are reported as {[id + 100] = value * 2}; a platform write of
--     one (5/10210) is written as value * 3 with modbus.write ("mb hook write <result>").
-- Passthrough to the gateway: "write <dk> <id> <integer>" calls modbus.write, "values <dk>"
-- prints modbus.values, "send <id> <integer>" calls quecIot.MBDataSend, "deinit" calls
-- quecIot.MBDeinit.
local P = require("it_params")

local dump = require("it_dump")

print("mb cb " .. tostring(modbus.setEventCB(function(ev)
    local v = ev[3]
    print("mb event " .. v[1] .. " " .. v[2] .. " " .. ev[1] .. "/" .. ev[2]
        .. (v[3] ~= nil and (" " .. dump(v[3])) or ""))
    if ev[1] == 2 and v[2] == P.hook_dk then
        local out = {}
        for id, x in pairs(v[3]) do out[id + 100] = x * 2 end
        print("mb hook report " .. tostring(quecIot.subDevTslReport(v[1], v[2], out)))
    end
end)))

quecIot.subDevSetEventCB(function(d)
    print("sub event " .. d[1] .. " " .. d[2] .. " " .. d[3] .. "/" .. d[4]
        .. (d[5] ~= nil and (" " .. dump(d[5])) or ""))
    if d[2] == P.hook_dk and d[3] == 5 and d[4] == 10210 and d[5][2] ~= nil then
        print("mb hook write " .. tostring(modbus.write(d[2], {[2] = d[5][2] * 3})))
    end
end)

local function command(text)
    local dk, id, n = text:match("^write (%S+) (%d+) (%-?%d+)$")
    if dk ~= nil then
        print("mb write " .. tostring(modbus.write(dk, {[tonumber(id)] = tonumber(n)})))
        return
    end
    dk = text:match("^values (%S+)$")
    if dk ~= nil then
        print("mb values " .. dk .. " " .. dump(modbus.values(dk)))
        return
    end
    if text == "deinit" then
        print("mb deinit " .. tostring(quecIot.MBDeinit()))
        return
    end
    id, n = text:match("^send (%d+) (%-?%d+)$")
    if id ~= nil then
        print("mb send " .. tostring(quecIot.MBDataSend({[tonumber(id)] = tonumber(n)})))
        return
    end
    print("mb command? " .. text)
end

if P.serial ~= nil then
    local line
    line = modbus.serialOpen(P.serial, 9600, function(bytes, why)
        if bytes == nil then
            print("mb serial closed " .. tostring(why))
        elseif not quecIot.MBDataRecv(P.uart, bytes) then
            print("mb recv refused")
        end
    end)
    print("mb serial " .. tostring(line ~= nil))
    print("mb init call " .. tostring(quecIot.MBInit({P.uart}, function(data)
        if not modbus.serialWrite(line, data[2]) then
            print("mb send refused " .. tostring(data[1]))
        end
    end, function(data)
        print("mb init " .. dump(data))
    end)))
    print("mb init again refused " .. tostring(quecIot.MBInit({99}, print, print)))
end

require("it_device")(command)
