-- Example device script: the quecIot guide's sections 2.1-2.3 and 5, in Lua.
-- The quecIot module keeps the guide's names, arguments and return values.

quecIot.init()

-- Product information from the platform's product page (set once; it is persisted).
if quecIot.getProductinfo() == nil then
    quecIot.setProductinfo("p1116a", "UHg1dTRBRVh3MkVG")
end
quecIot.setServer(1, "mqtt://127.0.0.1:1883")
quecIot.setLifetime(120)
quecIot.setMcuVersion("MCU1", "1_0_0")

local data_trans_ready = false

local function eventCB(data)
    local event, errcode, value = data[1], data[2], data[3]
    agent.log.info("event ", event, ",", errcode, value ~= nil and (" " .. tostring(value)) or "")
    if event == 1 and errcode == 10422 then
        quecIot.setConnmode(0)
    elseif event == 3 and errcode == 10200 then
        -- Data may be sent after 3,10200 (subscribed).
        data_trans_ready = true
        quecIot.phymodelReport(1, {[2] = true})
    elseif event == 5 and errcode == 10210 then
        for id, v in pairs(value) do
            agent.log.info("platform wrote ", id, " = ", tostring(v))
        end
    elseif event == 5 and errcode == 10211 then
        local pkgid, ids = value[1], value[2]
        local answer = {}
        for _, id in ipairs(ids) do
            answer[id] = id * 10
        end
        quecIot.phymodelAck(1, pkgid, answer)
    end
end

quecIot.setEventCB(eventCB)

-- Every 10 s, like the guide's osTimer main task.
local main_task = agent.timer()
main_task:start(10000, 1, function()
    if data_trans_ready then
        quecIot.phymodelReport(0, {[110] = math.random(3300, 4200)})
    else
        agent.log.info("waiting for the platform (work state ", quecIot.getWorkState(), ")")
    end
end)

quecIot.setConnmode(1)
