-- Integration script for tests/integration/test_cloud*.sh. Parameters come from
-- it_params.lua, written by the test into lua.lib_path:
--   server, pk, ps, dk, ds, mode ("types" | "stream"), count, period_ms, first (stream: the
--   first value; a restarted agent goes on where the killed one stopped), session (true:
--   quecIot.setSessionFlag(true), payloads encrypted with a session key), logout_after_ms
--   (setConnmode(0) that long after the first 3/10200, then setConnmode(1) 1 s later),
--   switch_dk (after the first 3/10200: setDkDs(switch_dk, "") and one report {[1] = 77}),
--   lifetime (quecIot.setLifetime(lifetime) before connecting: the MQTT keepalive),
--   ota ("confirm" | "refuse": the answer to an OTA task, 7/10700, with otaAction),
--   ota_request (after the first 3/10200: quecIot.otaRequest(ota_request)),
--   mcu (true: act as an external MCU: on each 7/10703 read the piece with mcuFWDataRead,
--   print it as "mcu piece <start> <hex>" per 1000 bytes (a log line holds 2 KiB), then
--   otaAction(2), or (3) after the last piece; on 7/10704 setMcuVersion(<component>, mcu_version or the target)),
--   raise_after_ms (raise an error from a timer that long after the script starts),
--   pad (stream and seq: each report also carries {[10] = a string of pad bytes}).
-- The global SCRIPT_TAG (set by a script that wraps this one) is printed as
-- "script <tag> running" at the start ("v1" when unset).
-- Mode "seq" (tests/fault): reports {[1] = n} at mode 1 for n = first..count, one every
-- period_ms, from the first 3/10200 on whatever the connection does; prints "seq queued n"
-- when phymodelReport accepted n and "seq durable n" on the next tick, a later loop turn:
-- the store commits once per loop turn (docs/protocol.md), so a restarted agent resumes
-- at the last durable value + 1 and a kill -9 in between costs a duplicate, never a gap.
local P = require("it_params")
print("script " .. (SCRIPT_TAG or "v1") .. " running")

-- Deterministic text of a value: tables with sorted keys, like the sim's JSON log.
local dump = require("it_dump")

quecIot.init()
quecIot.setProductinfo(P.pk, P.ps)
quecIot.setServer(1, P.server)
if P.dk then
    local cur = quecIot.getDkDs()
    if cur == nil or cur[1] ~= P.dk then
        quecIot.setDkDs(P.dk, P.ds or "")
    end
end

if P.lifetime ~= nil then
    print("lifetime " .. tostring(quecIot.setLifetime(P.lifetime)))
end

if P.session ~= nil then
    print("session flag " .. tostring(quecIot.setSessionFlag(P.session)))
end

local streaming = nil
local ota_requested = false
local ota_target = nil
local http_ota_up = false

if P.http_ota ~= nil then
    quecIot.setHttpOtaEventCb(function(ev)
        print("httpota event " .. ev[1] .. "/" .. ev[2] .. (ev[3] ~= nil and (" " .. ev[3]) or ""))
    end)
end

local function http_ota()
    local H = P.http_ota
    print("httpota settings " .. tostring(quecIot.setHttpOtaProductInfo(P.pk, P.ps)) .. " "
        .. tostring(quecIot.setHttpOtaServer(H.server)) .. " "
        .. tostring(quecIot.setHttpOtaTls(0)) .. " bad " .. tostring(quecIot.setHttpOtaTls(2))
        .. " " .. tostring(quecIot.setHttpOtaUp(101, 1)))
    print("httpota up " .. tostring(quecIot.setHttpOtaUp(H.battery, H.upmode)))
    local up = quecIot.getHttpOtaUp()
    print("httpota get " .. quecIot.getHttpOtaProductInfo()[1] .. " " .. quecIot.getHttpOtaServer()
        .. " " .. tostring(quecIot.getHttpOtaTls()) .. " " .. up[1] .. ";" .. up[2] .. ";" .. up[3])
end
local pad = P.pad and string.rep("x", P.pad) or nil
local logged_out = false
local switched = false

local function stream()
    streaming = agent.timer()
    local i = (P.first or 1) - 1
    streaming:start(P.period_ms or 30, 1, function()
        i = i + 1
        if i > P.count then
            streaming:stop()
            print("stream done")
            return
        end
        if quecIot.phymodelReport(1, {[9] = i, [10] = pad}) then
            print("stream sent " .. i)
        else
            print("stream report " .. i .. " refused")
        end
    end)
    print("stream started")
end

local function seq()
    streaming = agent.timer()
    local n = (P.first or 1) - 1
    local pending = nil
    streaming:start(P.period_ms or 30, 1, function()
        if pending ~= nil then
            print("seq durable " .. pending)
            pending = nil
        end
        if n >= P.count then
            streaming:stop()
            print("seq done")
            return
        end
        if quecIot.phymodelReport(1, {[1] = n + 1, [10] = pad}) then
            n = n + 1
            pending = n
            print("seq queued " .. n)
        else
            print("seq report " .. (n + 1) .. " refused")
        end
    end)
    print("seq started at " .. (n + 1))
end

quecIot.setEventCB(function(ev)
    print("event " .. ev[1] .. "/" .. ev[2] .. (ev[3] ~= nil and (" " .. dump(ev[3])) or ""))
    if ev[1] == 3 and ev[2] == 10200 then
        if P.http_ota ~= nil and not http_ota_up then
            http_ota_up = true
            http_ota()
        end
        if P.ota_request ~= nil and not ota_requested then
            ota_requested = true
            print("ota request " .. tostring(quecIot.otaRequest(P.ota_request))
                .. " bad " .. tostring(quecIot.otaRequest(2)))
        end
        if P.mode == "types" then
            -- Every TSL type of the seed's figure 3.
            print("report " .. tostring(quecIot.phymodelReport(1, {
                [24] = true, [25] = -100000, [26] = -1111.1, [27] = "text \u{4e2d}\u{6587}",
                [28] = 1700000000000, [29] = {[30] = false, [31] = 10, [32] = "string"},
                [33] = {1, 2, 3}, [34] = 0, [35] = 123.123,
            })))
            print("pass " .. tostring(quecIot.passTransSend(1, "pass data")))
        end
        if P.logout_after_ms and not logged_out then
            logged_out = true
            local t = agent.timer()
            t:start(P.logout_after_ms, 0, function()
                print("connmode 0 " .. tostring(quecIot.setConnmode(0)) .. " state "
                    .. quecIot.getWorkState())
                t:start(1000, 0, function()
                    print("connmode 1 " .. tostring(quecIot.setConnmode(1)))
                end)
            end)
        end
        if P.switch_dk and not switched then
            switched = true
            print("switch " .. tostring(quecIot.setDkDs(P.switch_dk, "")) .. " report "
                .. tostring(quecIot.phymodelReport(1, {[1] = 77})))
        end
        if P.mode == "stream" and streaming == nil then
            stream()
        elseif P.mode == "seq" and streaming == nil then
            seq()
        end
    elseif ev[1] == 7 and ev[2] == 10703 and P.mcu then
        local comp, size, start, piece = ev[3]:match('^"([^"]*)",(%d+),(%d+),(%d+)$')
        size, start, piece = tonumber(size), tonumber(start), tonumber(piece)
        for at = start, start + piece - 1, 1000 do
            local data = quecIot.mcuFWDataRead(at, 1000)
            print("mcu piece " .. at .. " " .. (data:gsub(".", function(ch)
                return string.format("%02x", ch:byte())
            end)))
        end
        print("mcu beyond " .. tostring(quecIot.mcuFWDataRead(start + piece, 1)))
        if start + piece < size then
            print("mcu next " .. tostring(quecIot.otaAction(2)))
        else
            print("mcu last " .. tostring(quecIot.otaAction(2)) .. " "
                .. tostring(quecIot.otaAction(3)))
        end
    elseif ev[1] == 7 and ev[2] == 10704 and P.mcu then
        local comp = ota_target and ota_target[1]
        print("mcu version " .. tostring(quecIot.setMcuVersion(comp,
            P.mcu_version or ota_target[2])))
    elseif ev[1] == 7 and ev[2] == 10700 and P.ota then
        local comp, target = ev[3]:match('^"([^"]*)","[^"]*","([^"]*)"')
        ota_target = {comp, target}
        print("ota action " .. tostring(quecIot.otaAction(P.ota == "confirm" and 1 or 0))
            .. " again " .. tostring(quecIot.otaAction(P.ota == "confirm" and 1 or 0)))
    elseif ev[1] == 5 and ev[2] == 10211 then
        local pkgid, ids = ev[3][1], ev[3][2]
        local answer = {}
        for _, id in ipairs(ids) do
            answer[id] = id * 100 + 0.5
        end
        print("ack " .. tostring(quecIot.phymodelAck(1, pkgid, answer)))
    end
end)
quecIot.setConnmode(1)
