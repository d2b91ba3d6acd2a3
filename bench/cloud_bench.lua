-- bench/cloud.sh: once online, report COUNT thing-model values at mode 1 and log the
-- rate from the first call to the last 4/10210 (broker acknowledgement).
local count = BENCH_COUNT or 20000
quecIot.init()
local started, acked = nil, 0
quecIot.setEventCB(function(ev)
    if ev[1] == 3 and ev[2] == 10200 and started == nil then
        started = os.clock()
        agent.log.info("bench: start ", count)
        for i = 1, count do
            quecIot.phymodelReport(1, {[1] = true, [2] = 25, [3] = 12.5, [4] = "hi"})
        end
    elseif ev[1] == 4 and ev[2] == 10210 then
        acked = acked + 1
        if acked == count then
            agent.log.info("bench: done ", count)
        end
    end
end)
quecIot.setConnmode(1)
