-- The quecIot guide's section 5 example (QuecPython), ported to Lua line by line: the same
-- thing model (2 bool, 3 int, 9 float, 4 array, 6 struct of 7 and 8, 110 battery), the same
-- OTA handler (otaAction(1) for a SCRIPT or IMEI component), the same 100 s main task. Run
-- it against the simulator with `QTD_SCRIPT=config/seed-example.lua ./run.sh`; a site.lua
-- (beside it or in lua.lib_path) returning { server = ..., dk = ... } names another
-- platform or device key. Where QuecPython has no Linux counterpart the line says so.
local found, site = pcall(require, "site")
site = found and site or {}

local DEMO_VERSION = "21060101"

local data_trans_ready = false
local gpio_toggle_flag = false

-- The battery voltage in mV (QuecPython: misc.Power.getVbatt()): here the host's battery,
-- status id 2 in volts, when it has one (/sys/class/power_supply); else nothing to report.
local function get_battery_vol()
    local st = quecIot.getDevStatus({2})
    return st and st[2] and math.floor(st[2] * 1000 + 0.5) or nil
end

-- Module OTA and script OTA. QuecPython's event list is 0-based: event[0] is data[1] here.
local function ota_event(event)
    if 7 == event[1] and 10700 == event[2] then
        -- the component's name, created on the platform
        if string.find(event[3], "SCRIPT", 1, true) then
            quecIot.otaAction(1)
        elseif string.find(event[3], "IMEI", 1, true) then
            quecIot.otaAction(1)
        end
    elseif 7 == event[1] and 10701 == event[2] then
        -- nothing: the download goes on
    elseif 7 == event[1] and 10703 == event[2] then
        if string.find(event[3], "SCRIPT", 1, true) then
            -- The guide renames the files and sets the version itself; qthingd swaps the
            -- script (keeping the previous one until the new one has run) and reports
            -- setMcuVersion("SCRIPT", <target>) once it runs.
        elseif string.find(event[3], "IMEI", 1, true) then
            -- nothing
        end
    end
end

local QuecThing = {}

function QuecThing.eventCB(data_list)
    print(string.format("\r\n%s，%s\r\n", tostring(data_list[1]), tostring(data_list[2])))
    if #data_list == 3 then
        print(data_list[3])
    end

    ota_event(data_list)
    if 1 == data_list[1] and 10422 == data_list[2] then
        quecIot.setConnmode(0)
        -- exit(0): the agent goes on running (its other plugins, the outbox)
    elseif 3 == data_list[1] and 10200 == data_list[2] then
        -- Test sending thing-model data: only after 3, 10200
        data_trans_ready = true

        -- a bool
        quecIot.phymodelReport(1, {[2] = true})
        -- numbers: an integer
        quecIot.phymodelReport(1, {[3] = 123})
        -- a float
        quecIot.phymodelReport(1, {[9] = 123.123})
        -- an array
        quecIot.phymodelReport(1, {[4] = {1, 2, 3}})
        -- a struct
        quecIot.phymodelReport(1, {[6] = {[8] = 1.0, [7] = 1.0}})
        -- Chinese text, as passthrough (not debuggable on the platform together with the
        -- thing model):
        -- quecIot.passTransSend(1, "中文")
    end
end

function QuecThing.mainTask()
    -- The main task: report the battery voltage
    if data_trans_ready then
        print("main task")
        -- the voltage
        local battery_vol = get_battery_vol()
        -- thing-model data
        if battery_vol ~= nil then
            quecIot.phymodelReport(0, {[110] = battery_vol})
        end
        -- toggle a pin: no GPIO here (QuecPython's machine.Pin)
        -- gpio_toggle_flag = not gpio_toggle_flag
    end
end

function QuecThing.new()
    -- initialise the SDK
    quecIot.init()
    -- the event callback
    quecIot.setEventCB(QuecThing.eventCB)
    -- the product
    quecIot.setProductinfo("p1116a", "UHg1dTRBRVh3MkVG")
    -- the server, optional: the MQTT production server by default
    quecIot.setServer(1, site.server or "http://iot-south.quectel.com:2883")
    if site.dk ~= nil then
        quecIot.setDkDs(site.dk, "") -- not in the guide: the module's IMEI is its device key
    end
    -- the lifetime, optional: 120 for MQTT by default
    quecIot.setLifetime(120)
    -- an external MCU's component and version, optional
    quecIot.setMcuVersion("MCU1", "1_0_0")

    -- a timer task: the callback every hundred seconds (QuecPython's osTimer)
    local ostimer = agent.timer()
    ostimer:start(site.period_ms or 100000, 1, QuecThing.mainTask)
    QuecThing.timer = ostimer

    -- a GPIO object (machine.Pin) and autosleep (pm.autosleep): nothing on a Linux host

    -- connect to the platform
    quecIot.setConnmode(1)
end

print("\r\n*****\r\n")
print(DEMO_VERSION)
QuecThing.new()
