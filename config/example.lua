-- Example device script (what ./run.sh runs): the quecIot guide's sections 2.1-2.3 as a
-- small device with its own thing model that answers the platform's writes, reads and
-- passthrough. The guide's section 5 example itself, line by line, is seed-example.lua.
-- The quecIot module keeps the guide's names, arguments and return values.
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
quecIot.setMcuVersion("MCU1", "1_0_0")

-- The device's thing model: 1 temperature (float), 2 counter (int), 3 switch (bool),
-- 4 label (text). The platform may read and write them.
local model = { [1] = 21.5, [2] = 0, [3] = false, [4] = "qthingd example" }

local function online()
    return quecIot.getWorkState() == 8 -- subscribed: data flows
end

local function show(v)
    if type(v) ~= "table" then
        return tostring(v)
    end
    local parts = {}
    for k, x in pairs(v) do
        parts[#parts + 1] = tostring(k) .. "=" .. show(x)
    end
    table.sort(parts)
    return "{" .. table.concat(parts, ", ") .. "}"
end

quecIot.setEventCB(function(data)
    local event, errcode, value = data[1], data[2], data[3]
    agent.log.info(string.format("event %d/%d %s", event, errcode,
        value ~= nil and show(value) or ""))
    if event == 1 and errcode == 10422 then
        quecIot.setConnmode(0) -- already authenticated elsewhere: stop, like the guide
    elseif event == 3 and errcode == 10200 then
        quecIot.phymodelReport(1, model) -- everything once when (re)connected
    elseif event == 5 and errcode == 10210 then
        for id, v in pairs(value) do -- the platform writes
            model[id] = v
        end
        quecIot.phymodelReport(1, value) -- confirm the new values
    elseif event == 5 and errcode == 10211 then
        local pkgid, ids = value[1], value[2] -- the platform reads
        local answer = {}
        for _, id in ipairs(ids) do
            answer[id] = model[id]
        end
        quecIot.phymodelAck(1, pkgid, answer)
    elseif event == 5 and errcode == 10200 then
        quecIot.passTransSend(1, "echo: " .. value) -- passthrough bytes: echo them
    end
end)

-- Every 5 s, like the guide's osTimer main task: a new temperature and the counter.
local main_task = agent.timer()
main_task:start(5000, 1, function()
    model[1] = math.floor((21.5 + 3 * math.sin(os.time() / 60)) * 10 + 0.5) / 10
    model[2] = model[2] + 1
    -- Mode 1 is kept in the agent's outbox until the platform has it, online or not.
    quecIot.phymodelReport(1, { [1] = model[1], [2] = model[2] })
    if not online() then
        agent.log.info("offline (work state " .. quecIot.getWorkState() .. "): report kept")
    end
end)

quecIot.setConnmode(1)
