-- Integration script for tests/integration/test_agent.sh: event delivery to eventCB, an
-- error inside the callback, a runaway loop in a timer, thread posts, reload, persistence.
local ok = quecIot.init()
local loads = tonumber(probe.kv("it.loads") or "0") + 1
probe.kv("it.loads", tostring(loads))
print("script loaded " .. loads .. " init " .. tostring(ok))
local pi = quecIot.getProductinfo()
print("productinfo " .. (pi and (pi[1] .. "/" .. pi[2]) or "unset"))
quecIot.setProductinfo("pk" .. loads, "ps" .. loads)

local seen = 0
quecIot.setEventCB(function(ev)
    seen = seen + 1
    print("eventCB " .. ev[1] .. "/" .. ev[2] .. " value " .. tostring(ev[3]))
    if ev[1] == 5 and ev[3] == 2 then
        error("boom in callback")
    end
end)

for i = 1, 5 do
    probe.publish(1, 5, 10200, i)
end

local runaway = agent.timer()
runaway:start(100, 0, function()
    print("runaway starts")
    while true do end
end)

local alive = agent.timer()
alive:start(300, 1, function()
    print("alive seen=" .. seen)
end)

local posted = agent.timer()
posted:start(200, 0, function()
    probe.post_from_thread(200)
end)
