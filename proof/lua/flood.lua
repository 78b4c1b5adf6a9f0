-- wrk script of smstrigger-proof's neighbour scenario: the noisy tenant's
-- flood of pre-generated, signed inbound webhooks, counting the answers
-- by kind (above all the 429s of its events-per-second quota).
--
--   wrk ... -s flood.lua URL -- DIR DELAY_MS THREADS
--
-- As signed-webhooks.lua: thread t loads DIR/requests-<t>.txt
-- (`<signature>\t<body>` a line) in init(), the last thread's init()
-- writes DIR/ready and no thread sends before it exists, and DELAY_MS > 0
-- paces each connection with delay(). Unlike it, running past the end of
-- the file simply starts over: a flood may repeat itself (a repeat of an
-- accepted message is a 202 `duplicate`, counted as such).
--
-- done() prints the line wrk.rs parses and one with the 429s:
--   proof-counts accepted=N duplicate=N other202=N non202=N exhausted=N loaded=N
--   proof-flood s429=N

local ffi = require("ffi")
ffi.cdef[[int usleep(unsigned int usec);]]

local threads = {}
local next_id = 0

function setup(thread)
   thread:set("id", next_id)
   next_id = next_id + 1
   table.insert(threads, thread)
end

function init(args)
   accepted, duplicate, other202, non202, exhausted, s429 = 0, 0, 0, 0, 0, 0
   requests_list = {}
   position = 0
   local dir = args[1]
   local delay_ms = tonumber(args[2] or "0") or 0
   local thread_count = tonumber(args[3] or "1") or 1
   ready_path = dir .. "/ready"
   local path = dir .. "/requests-" .. id .. ".txt"
   local file = assert(io.open(path, "r"))
   for line in file:lines() do
      local tab = line:find("\t", 1, true)
      if tab then
         local headers = {
            ["Content-Type"] = "application/json",
            ["X-Smstrigger-Signature"] = line:sub(1, tab - 1),
         }
         requests_list[#requests_list + 1] =
            wrk.format("POST", wrk.path, headers, line:sub(tab + 1))
      end
   end
   file:close()
   loaded = #requests_list
   assert(loaded > 0, path .. " holds no requests")
   if id == thread_count - 1 then
      assert(io.open(ready_path, "w")):close()
   end
   if delay_ms > 0 then
      local carried = 0
      delay = function()
         carried = carried + delay_ms
         local whole = math.floor(carried)
         carried = carried - whole
         return whole
      end
   end
end

local function exists(path)
   local file = io.open(path, "r")
   if file then
      file:close()
      return true
   end
   return false
end

function request()
   if not released then
      if id == 0 and not verified then
         verified = true
         return requests_list[1]
      end
      while not exists(ready_path) do
         ffi.C.usleep(1000)
      end
      released = true
   end
   position = position + 1
   if position > loaded then
      position = 1
   end
   return requests_list[position]
end

function response(status, headers, body)
   if status == 202 then
      if body:find('"accepted"', 1, true) then
         accepted = accepted + 1
      elseif body:find('"duplicate"', 1, true) then
         duplicate = duplicate + 1
      else
         other202 = other202 + 1
      end
   else
      non202 = non202 + 1
      if status == 429 then
         s429 = s429 + 1
      end
   end
end

function done(summary, latency, requests)
   local totals = { accepted = 0, duplicate = 0, other202 = 0, non202 = 0, exhausted = 0, loaded = 0, s429 = 0 }
   for _, thread in ipairs(threads) do
      for name, _ in pairs(totals) do
         totals[name] = totals[name] + (thread:get(name) or 0)
      end
   end
   io.write(string.format(
      "proof-counts accepted=%d duplicate=%d other202=%d non202=%d exhausted=%d loaded=%d\n",
      totals.accepted, totals.duplicate, totals.other202, totals.non202,
      totals.exhausted, totals.loaded))
   io.write(string.format("proof-flood s429=%d\n", totals.s429))
end
