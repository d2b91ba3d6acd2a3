/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Guards of the sandbox against what its instruction hook cannot stop, because Lua runs it
 * with hooks off or inside C: a __gc finalizer (Lua 5.4 runs finalizers with hooks off, so
 * an endless loop in one would stop the agent for good) and a backtracking string pattern
 * (the matcher is C: a pattern whose chain of optional or repeated items is long enough
 * takes exponential time). setmetatable refuses a metatable with __gc; string.find, match,
 * gmatch and gsub refuse a pattern whose longest chain of k quantified items could take more
 * than PATTERN_BUDGET steps on the subject ((n + 1)^k / k!); fixed items that a quantified
 * item before them could match do not end a chain ("a*a" repeated is one long chain). Polynomial
 * worst cases within that budget, and C code that runs long for other reasons, are the watchdog's
 * (agent.c). Not here: the sandbox itself (sandbox.c).
 */
#include "lua/lua_internal.h"

#include <ctype.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#define PATTERN_BUDGET 1e9 /* matcher steps one call may need at worst */

/* setmetatable(t, mt): as Lua's, but a metatable with __gc is refused. Upvalue 1: Lua's. */
static int l_setmetatable(lua_State *L)
{
    if (lua_type(L, 2) == LUA_TTABLE) {
        lua_pushliteral(L, "__gc");  /* [t mt ... "__gc"] */
        int type = lua_rawget(L, 2); /* [t mt ... gc] */
        lua_pop(L, 1);               /* [t mt ...] */
        if (type != LUA_TNIL) {
            return luaL_error(L, "setmetatable: __gc finalizers are not allowed in scripts "
                                 "(they run where no limit can stop them); release resources "
                                 "explicitly or with a to-be-closed variable");
        }
    }
    lua_pushvalue(L, lua_upvalueindex(1)); /* [args... setmetatable] */
    lua_insert(L, 1);                      /* [setmetatable args...] */
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

/* One single-character class at p (a char, '.', %x, or [set]): the byte after it. */
static const char *class_end(const char *p, const char *end)
{
    if (*p == '%') {
        return p + 2 <= end ? p + 2 : end;
    }
    if (*p == '[') {
        p++;
        if (p < end && *p == '^') {
            p++;
        }
        do { /* the first ']' belongs to the set */
            if (p >= end) {
                return end;
            }
            if (*p == '%' && p + 1 < end) {
                p++;
            }
            p++;
        } while (p < end && *p != ']');
        return p < end ? p + 1 : end;
    }
    return p + 1;
}

/* Whether the single-character class at p..end (a char, '.', %x or [set]) matches c. */
static bool class_matches(const char *p, const char *end, unsigned char c)
{
    if (*p == '.') {
        return true;
    }
    if (*p == '%' && p + 1 < end) {
        bool yes;
        switch (p[1] | 0x20) {
        case 'a':
            yes = isalpha(c);
            break;
        case 'c':
            yes = iscntrl(c);
            break;
        case 'd':
            yes = isdigit(c);
            break;
        case 'g':
            yes = isgraph(c);
            break;
        case 'l':
            yes = islower(c);
            break;
        case 'p':
            yes = ispunct(c);
            break;
        case 's':
            yes = isspace(c);
            break;
        case 'u':
            yes = isupper(c);
            break;
        case 'w':
            yes = isalnum(c);
            break;
        case 'x':
            yes = isxdigit(c);
            break;
        default:
            return (unsigned char)p[1] == c; /* an escaped character */
        }
        return isupper((unsigned char)p[1]) ? !yes : yes;
    }
    if (*p == '[') {
        const char *q = p + 1;
        bool negate = q < end && *q == '^';
        q += negate;
        bool found = false;
        const char *last = end - 1; /* the closing ']' */
        for (bool first = true; q < last; first = false) {
            if (*q == '%' && q + 1 < last) {
                found |= class_matches(q, q + 2, c);
                q += 2;
            } else if (q + 2 < last && q[1] == '-') {
                found |= (unsigned char)q[0] <= c && c <= (unsigned char)q[2];
                q += 3;
            } else {
                found |= (unsigned char)*q == c;
                q++;
            }
            (void)first;
        }
        return found != negate;
    }
    return (unsigned char)*p == c;
}

/* Whether two classes can match one same character. */
static bool overlap(const char *a, const char *aend, const char *b, const char *bend)
{
    for (int c = 0; c < 256; c++) {
        if (class_matches(a, aend, (unsigned char)c) && class_matches(b, bend, (unsigned char)c)) {
            return true;
        }
    }
    return false;
}

/*
 * The longest run of quantified items that backtracking can multiply: consecutive
 * quantified items, and those separated only by fixed items that the quantified item before
 * them could also match (in "a*a" the fixed 'a' does not stop a* from trying every split).
 * Captures do not break a run; %b, %f and back-references do.
 */
static int longest_chain(const char *p, size_t len)
{
    const char *end = p + len;
    const char *qcls = NULL; /* the class of the last quantified item of the run */
    const char *qend = NULL;
    int run = 0;
    int best = 0;
    if (p < end && *p == '^') {
        p++;
    }
    while (p < end) {
        if (*p == '(' || *p == ')') {
            p++;
            continue;
        }
        if (*p == '$' && p + 1 == end) {
            break;
        }
        if (*p == '%' && p + 1 < end &&
            (p[1] == 'b' || p[1] == 'f' || (p[1] >= '0' && p[1] <= '9'))) {
            /* %bxy, %f[set], %1: fixed items */
            const char *q = p + 2;
            if (p[1] == 'b') {
                q = p + 4 <= end ? p + 4 : end;
            } else if (p[1] == 'f') {
                q = q < end ? class_end(q, end) : end;
            }
            p = q;
            run = 0;
            continue;
        }
        const char *cls = p;
        p = class_end(p, end);
        if (p < end && (*p == '*' || *p == '+' || *p == '-' || *p == '?')) {
            p++;
            run++;
            qcls = cls;
            qend = p - 1;
            best = run > best ? run : best;
        } else if (run > 0 && !overlap(qcls, qend, cls, p)) {
            run = 0; /* a fixed item the run cannot swallow: it pins the split */
        }
    }
    return best;
}

/* Whether (n + 1)^k / k! stays within the budget, in logarithms. */
static bool affordable(size_t n, int k)
{
    if (k <= 1) {
        return true; /* at worst quadratic: the watchdog's */
    }
    double steps = k * log((double)n + 1) - lgamma((double)k + 1);
    return steps <= log(PATTERN_BUDGET);
}

/* string.find/match/gmatch/gsub(s, pattern, ...): Lua's, after the cost check. Upvalue 1:
 * Lua's function, upvalue 2: its name. */
static int l_pattern_guard(lua_State *L)
{
    size_t n = 0;
    size_t plen = 0;
    const char *s = luaL_checklstring(L, 1, &n);
    const char *p = luaL_checklstring(L, 2, &plen);
    (void)s;
    bool plain = strcmp(lua_tostring(L, lua_upvalueindex(2)), "find") == 0 && lua_toboolean(L, 4);
    if (!plain) {
        int k = longest_chain(p, plen);
        if (!affordable(n, k)) {
            return luaL_error(L,
                              "string.%s: pattern too costly for a %d-byte subject (%d optional "
                              "or repeated items in a row could take more than 1e9 steps); "
                              "simplify the pattern or shorten the subject",
                              lua_tostring(L, lua_upvalueindex(2)), (int)n, k);
        }
    }
    lua_pushvalue(L, lua_upvalueindex(1)); /* [args... fn] */
    lua_insert(L, 1);                      /* [fn args...] */
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

void qtd__lua_guard_open(lua_State *L)
{
    lua_pushglobaltable(L);                 /* [G] */
    lua_getfield(L, -1, "setmetatable");    /* [G setmetatable] */
    lua_pushcclosure(L, l_setmetatable, 1); /* [G guarded] */
    lua_setfield(L, -2, "setmetatable");    /* [G] */
    lua_getfield(L, -1, LUA_STRLIBNAME);    /* [G string] */
    static const char *const fns[] = {"find", "match", "gmatch", "gsub"};
    for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
        lua_getfield(L, -1, fns[i]);             /* [G string fn] */
        lua_pushstring(L, fns[i]);               /* [G string fn name] */
        lua_pushcclosure(L, l_pattern_guard, 2); /* [G string guarded] */
        lua_setfield(L, -2, fns[i]);             /* [G string] */
    }
    lua_pop(L, 2); /* [] */
}
