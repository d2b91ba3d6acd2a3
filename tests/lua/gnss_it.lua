-- Integration script for tests/integration/test_gnss*.sh: a device (the cloud_it.lua identity
-- parameters from it_params.lua: server, pk, ps, dk) with the GNSS plugin. It prints every
-- event as "event <event>/<errcode>". Passthrough from the platform is a command:
--   "sup"                 prints "loc sup <list joined with ;>" ("oldsup": "loc oldsup ...",
--                         through the seed's older name locSupList)
--   "data T1;T2"          prints "loc data <sentences joined with |>" (getLocData)
--   "old T1"              the same through the seed's older name locDataGet
--   "inside T1;T2"        prints "loc inside <true|false>" (locReportInside)
--   "outside S1|S2"       prints "loc outside <true|false>" (locReportOutside)
--   "fix"                 prints "loc fix <lat> <lon> <alt> <speed> <course> <sats> <utc>"
--                         or "loc fix nil"
--   "stats"               prints "loc stats <valid> <dropped> <cells>"
local P = require("it_params")

local function split(text, sep)
    local out = {}
    for part in string.gmatch(text, "[^" .. sep .. "]+") do out[#out + 1] = part end
    return out
end

local function command(text)
    local what, rest = text:match("^(%a+) ?(.*)$")
    if what == "sup" then
        print("loc sup " .. table.concat(quecIot.getLocSupList(), ";"))
    elseif what == "oldsup" then
        print("loc oldsup " .. table.concat(quecIot.locSupList(), ";")) -- the seed's older name
    elseif what == "data" or what == "old" then
        local fn = what == "data" and quecIot.getLocData or quecIot.locDataGet
        local got = fn(split(rest, ";"))
        print("loc data " .. (got and table.concat(got, "|") or "nil"))
    elseif what == "inside" then
        print("loc inside " .. tostring(quecIot.locReportInside(split(rest, ";"))))
    elseif what == "outside" then
        print("loc outside " .. tostring(quecIot.locReportOutside(split(rest, "|"))))
    elseif what == "fix" then
        local f = gnss.fix()
        if f == nil then
            print("loc fix nil")
        else
            print(string.format("loc fix %.6f %.6f %.1f %.1f %.1f %d %s", f.lat, f.lon, f.alt,
                f.speed, f.course, f.satellites, f.utc))
        end
    elseif what == "stats" then
        local s = gnss.stats()
        print("loc stats " .. s.valid .. " " .. s.dropped .. " " .. s.cells)
    else
        print("loc command? " .. text)
    end
end

require("it_device")(command)
