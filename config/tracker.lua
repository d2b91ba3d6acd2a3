-- Tracker script for config/gnss-tracker.lua: the device comes online as in example.lua;
-- the gnss plugin reports the location by its policies (the gnss section of the config).
-- This script logs the fix every 30 s and reports the location at once when the platform
-- sends the passthrough command "locate" (any other passthrough text is echoed back).
-- The location functions are described in docs/lua-api.md, 3.7.
--
-- Per-installation values (server, product) may come from an optional site.lua next to
-- this script or in lua.lib_path, returning e.g. { server = "mqtt://127.0.0.1:1883" }.
local found, site = pcall(require, "site")
site = found and site or {}

quecIot.init()
-- Product information from the platform's product page (persisted in the agent's store).
quecIot.setProductinfo(site.pk or "p1116a", site.ps or "UHg1dTRBRVh3MkVG")
quecIot.setServer(1, site.server or "iot-south.quectel.com:1883")
quecIot.setLifetime(120)

-- "31.230400,121.473700 12.5 m 35.9 km/h 45 deg, 8 satellites, HDOP 0.9"
local function describe(f)
    return string.format("%.6f,%.6f %s m %s km/h %s deg, %d satellites, HDOP %.1f (%s)",
        f.lat, f.lon,
        f.alt and string.format("%.1f", f.alt) or "?",
        f.speed and string.format("%.1f", f.speed) or "?",
        f.course and string.format("%.0f", f.course) or "?",
        f.satellites, f.hdop, f.utc)
end

quecIot.setEventCB(function(data)
    local event, errcode, value = data[1], data[2], data[3]
    if event == 3 and errcode == 10200 then
        -- online: what the sources give now (also the platform's info id 12)
        agent.log.info("online; location types: " .. table.concat(quecIot.getLocSupList(), ";"))
    elseif event == 4 and errcode == 10220 then
        agent.log.debug("a location report reached the platform")
    elseif event == 4 and errcode == 10320 then
        agent.log.warn("a location report was lost")
    elseif event == 5 and errcode == 10200 then
        if value == "locate" then
            -- the fix (GGA and RMC) when there is one, else the cells (LBS): stored in
            -- the outbox and sent as LOC_REPORT; 4/10220 when the platform has it
            if not quecIot.locReportInside({ "AUTO" }) then
                quecIot.passTransSend(1, "no location yet")
            end
        else
            quecIot.passTransSend(1, "echo: " .. value)
        end
    elseif event == 1 and errcode == 10422 then
        quecIot.setConnmode(0) -- already authenticated elsewhere: stop, like the guide
    end
end)

-- Every 30 s: the fix (nil without one) and the receiver's counters.
local watch = agent.timer()
watch:start(30000, 1, function()
    local f, s = gnss.fix(), gnss.stats()
    if f then
        print("fix " .. describe(f))
    else
        print(string.format("no fix (%d valid sentences, %d dropped, %d cells known)",
            s.valid, s.dropped, s.cells))
    end
end)

quecIot.setConnmode(1)
