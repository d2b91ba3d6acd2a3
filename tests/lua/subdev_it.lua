-- Integration script for tests/integration/test_subdev.sh: a gateway (the cloud_it.lua
-- identity parameters from it_params.lua: server, pk, ps, dk) that brings sub-devices on.
-- More parameters: subs = {{pk, ps, dk, keepalive [, ds] [, session = 1] [, beat = false]},
-- ...}: connected after
-- the gateway's first 3/10200 (with heartbeats every keepalive/3 s unless beat is false).
-- Every sub-device event is printed as "sub event <pk> <dk> <event>/<errcode> [value]".
-- The seed's second names are used where they fit: subDevPhymodelReport for the types
-- report, subDevDisconnect for "logout", subDevPhymodelAck on an unknown sub-device.
-- A sub-device online (3/10200) reports every thing-model type once and sends passthrough
-- "hello"; a read (5/10211) is answered with id * 100 + 0.5 for each id. Passthrough to the
-- gateway is a command for one of its sub-devices: "logout <dk>", "connect <dk>",
-- "deauth <dk>", "report <dk>" (subDevTslReport {[1] = n}, n = 1, 2, ... per sub-device),
-- "alias <dk>" (subDevConn of another PK/DK split of its endpoint).
-- seq = {count = N, every_ms = T} (tests/fault): from its first 3/10200 on, each sub-device
-- reports {[1] = n, [2] = its index in subs} for n = 1..N, one every T ms whatever the
-- connections do, and prints "seq done <dk>" after the last; no types report then (the
-- heartbeats as usual: a sub-device online longer than its keepalive needs them).
-- quiet = true: print only the 3/10200 sub-device events (bench/subdev.sh).
local P = require("it_params")

local dump = require("it_dump")

local subs = {}
for i, s in ipairs(P.subs or {}) do
    s.index = i
    subs[s.pk .. "/" .. s.dk] = s
end

local function seq(s)
    local n = 0
    s.seq = agent.timer()
    s.seq:start(P.seq.every_ms, 1, function()
        n = n + 1
        if not quecIot.subDevTslReport(s.pk, s.dk, {[1] = n, [2] = s.index}) then
            print("seq refused " .. s.dk .. " " .. n)
        end
        if n >= P.seq.count then
            s.seq:stop()
            if not P.quiet then print("seq done " .. s.dk) end
        end
    end)
end

local function connect(s)
    print("sub conn " .. s.dk .. " " .. tostring(quecIot.subDevConn(s.pk, s.ps, s.dk, s.ds,
        s.session or 0, s.keepalive)))
end

print("sub cb " .. tostring(quecIot.subDevSetEventCB(function(d)
    local pk, dk, event, code, value = d[1], d[2], d[3], d[4], d[5]
    if not P.quiet or (event == 3 and code == 10200) then
        print("sub event " .. pk .. " " .. dk .. " " .. event .. "/" .. code
            .. (value ~= nil and (" " .. dump(value)) or ""))
    end
    local s = subs[pk .. "/" .. dk]
    if event == 1 and code == 10200 and s ~= nil then
        s.ds = value -- the secret the platform issued, for subDevDeauth
    elseif event == 9 and code == 10200 and s ~= nil then
        s.ds = nil -- deregistered: the next connect authenticates again
    elseif event == 3 and code == 10200 then
        if P.seq == nil then
            print("sub report " .. dk .. " " .. tostring(quecIot.subDevPhymodelReport(pk, dk, {
                [1] = true, [2] = 25, [3] = 12.5, [4] = "on", [5] = {[6] = 7}, [8] = {1, 2, 3},
            })) .. " " .. tostring(quecIot.subDevPassTransSend(pk, dk, "hello")))
        elseif s ~= nil and s.seq == nil then
            seq(s)
        end
        if s ~= nil and s.beat ~= false and not s.timer then
            s.timer = agent.timer()
            s.timer:start(s.keepalive * 333, 1, function()
                quecIot.subDevHTB(pk, dk)
            end)
        end
    elseif event == 5 and code == 10211 then
        local answer = {}
        for _, id in ipairs(value[2]) do answer[id] = id * 100 + 0.5 end
        print("sub ack " .. dk .. " " .. tostring(quecIot.subDevTslAck(pk, dk, value[1], answer)))
    end
end)))

-- A command for a sub-device, from the gateway's passthrough.
local function command(text)
    local what, dk = text:match("^(%a+) (%S+)$")
    local s = nil
    for _, x in pairs(subs) do if x.dk == dk then s = x end end
    if s == nil then
        print("sub command? " .. text)
    elseif what == "logout" then
        print("sub logout " .. dk .. " " .. tostring(quecIot.subDevDisconnect(s.pk, dk)))
    elseif what == "connect" then
        connect(s)
    elseif what == "alias" then
        -- the same endpoint qd<PK><DK> with the PK's last character moved to the DK
        print("sub alias " .. dk .. " " .. tostring(quecIot.subDevConn(s.pk:sub(1, -2), s.ps,
            s.pk:sub(-1) .. dk, nil, 0, 30)))
    elseif what == "report" then
        s.n = (s.n or 0) + 1
        print("sub queued " .. dk .. " " .. s.n .. " "
            .. tostring(quecIot.subDevTslReport(s.pk, dk, {[1] = s.n})))
    elseif what == "deauth" then
        print("sub deauth " .. dk .. " " .. tostring(quecIot.subDevDeauth(s.pk, s.ps, dk, s.ds)))
    end
end

local started = false
require("it_device")(command, function(ev)
    if ev[1] == 3 and ev[2] == 10200 and not started then
        started = true
        print("sub bad " .. tostring(quecIot.subDevConn("x", "y", "z", nil, 0, 0)) .. " "
            .. tostring(quecIot.subDevHTB("nope", "nope")))
        -- unknown sub-devices, under both of the seed's names
        print("sub unknown " .. tostring(quecIot.subDevDisconn("nope", "nope")) .. " "
            .. tostring(quecIot.subDevPhymodelAck("nope", "nope", 1, {[1] = 1})) .. " "
            .. tostring(quecIot.subDevTslReport("nope", "nope", {[1] = 1})))
        for _, s in ipairs(P.subs or {}) do connect(s) end
    end
end)
