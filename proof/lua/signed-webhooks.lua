-- wrk script of smstrigger-proof: sends pre-generated, signed inbound
-- webhooks, each once (a load run) or round and round (the neighbour's
-- flood, which counts the 429s it gets).
--
--   wrk ... -s signed-webhooks.lua URL -- DIR DELAY_MS THREADS
--
-- Thread t loads DIR/requests-<t>.txt in init(): one request a line,
-- `<hex HMAC-SHA256 signature>\t<JSON body>`, and prebuilds them with
-- wrk.format. request() hands them out in order; running past the end
-- starts over (which would send duplicates) and is counted as `exhausted`.
-- DELAY_MS > 0 paces each connection: one request, then DELAY_MS
-- milliseconds' pause on average (wrk's delay() hook; DELAY_MS may be
-- fractional).
--
-- wrk starts each thread as soon as its init() returns and starts its
-- clock only after the last one, so a thread would send (and count)
-- requests while later threads still load their files. The last thread's
-- init() therefore writes DIR/ready, and no thread sends before it exists.
--
-- response() counts 202 answers that say "accepted", those that say
-- "duplicate", other 202s, non-202 answers and, among those, 429s (a
-- tenant's quota: what a flood is expected to get); done() prints the
-- totals as one line the harness parses:
--   proof-counts accepted=N duplicate=N other202=N non202=N s429=N exhausted=N loaded=N
-- and, for each thread that had one, its first non-202 answer:
--   proof-first-error <status> <start of the body>

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
   accepted, duplicate, other202, non202, s429, exhausted = 0, 0, 0, 0, 0, 0
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
      -- wrk takes whole milliseconds: carry the fraction over so the
      -- average pause is exactly DELAY_MS.
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
         -- wrk's own look at the first request, made before any thread
         -- runs: not sent, so not consumed.
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
      exhausted = exhausted + 1
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
      if not first_error then
         first_error = status .. " " .. (body or ""):sub(1, 300):gsub("[\r\n]", " ")
      end
   end
end

function done(summary, latency, requests)
   local totals = { accepted = 0, duplicate = 0, other202 = 0, non202 = 0, s429 = 0, exhausted = 0, loaded = 0 }
   for _, thread in ipairs(threads) do
      for name, _ in pairs(totals) do
         totals[name] = totals[name] + (thread:get(name) or 0)
      end
   end
   io.write(string.format(
      "proof-counts accepted=%d duplicate=%d other202=%d non202=%d s429=%d exhausted=%d loaded=%d\n",
      totals.accepted, totals.duplicate, totals.other202, totals.non202,
      totals.s429, totals.exhausted, totals.loaded))
   for _, thread in ipairs(threads) do
      local first = thread:get("first_error")
      if first then
         io.write("proof-first-error " .. first .. "\n")
      end
   end
end
