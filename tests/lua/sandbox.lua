-- The sandbox of the Lua host (tests/unit/test_lua.c, lua_sandbox_hides_unsafe_functions):
-- what must be missing, what must still work.
local function check(cond, what)
    if not cond then
        error("sandbox: " .. what, 2)
    end
end

-- Missing.
check(io == nil, "io is reachable")
check(debug == nil, "debug is reachable")
check(package == nil, "package is reachable")
check(dofile == nil, "dofile is reachable")
check(loadfile == nil, "loadfile is reachable")
check(string.dump == nil, "string.dump is reachable")
check(("").dump == nil, "string.dump is reachable through the string metatable")
for _, name in ipairs({"execute", "exit", "getenv", "remove", "rename", "tmpname",
                       "setlocale"}) do
    check(os[name] == nil, "os." .. name .. " is reachable")
end

-- os subset.
for _, name in ipairs({"time", "clock", "date", "difftime"}) do
    check(type(os[name]) == "function", "os." .. name .. " is missing")
end
check(os.time() > 0, "os.time")
check(type(os.date("%Y")) == "string", "os.date")

-- load: text only, whatever mode is asked for; env still honoured.
check(load("return 1 + 1")() == 2, "load of text")
check(load("return x", "chunk", "t", {x = 5})() == 5, "load with env")
check(load("return 3", "chunk", "b")() == 3, "load with mode 'b' is forced to text")
local f, err = load(test.bytecode())
check(f == nil and tostring(err):find("binary", 1, true), "binary chunk loaded: " ..
      tostring(err))
f, err = load(test.bytecode(), "x", "bt")
check(f == nil, "binary chunk loaded with mode 'bt'")

-- Libraries that stay.
for _, name in ipairs({"string", "table", "math", "utf8", "coroutine"}) do
    check(type(_G[name]) == "table", name .. " is missing")
    check(require(name) == _G[name], "require('" .. name .. "')")
end
check(require("test") == test, "require('test'): a module a plugin registered")
check(require("agent") == agent, "require('agent')")
check(type(collectgarbage("count")) == "number", "collectgarbage")
check(utf8.char(72, 105) == "Hi", "utf8")
check(coroutine.wrap(function() coroutine.yield(7) end)() == 7, "coroutine")

-- require: refused names and missing modules raise.
for _, name in ipairs({"../etc/passwd", "a..b", ".a", "a.", "a/b", "", "a-b", "x y"}) do
    local ok, msg = pcall(require, name)
    check(not ok and tostring(msg):find("refused", 1, true), "require('" .. name .. "')")
end
local ok, msg = pcall(require, "no_such_module")
check(not ok and tostring(msg):find("not found", 1, true), "require of a missing module")

test.mark()
