-- Assertions shared by the Lua test scripts (loaded with require from the script's
-- directory). A failed check raises with what was expected, which the C test sees as the
-- script failing.
local M = {}

function M.eq(got, want, what)
    if got ~= want then
        error(what .. ": expected " .. tostring(want) .. ", got " .. tostring(got), 2)
    end
end

-- Sequences compared element by element (nested sequences too).
function M.same(got, want, what)
    M.eq(type(got), "table", what)
    M.eq(#got, #want, what .. " (length)")
    for i = 1, #want do
        if type(want[i]) == "table" then
            M.same(got[i], want[i], what .. "[" .. i .. "]")
        else
            M.eq(got[i], want[i], what .. "[" .. i .. "]")
        end
    end
end

return M
