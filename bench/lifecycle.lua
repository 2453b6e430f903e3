-- Durable commands from the return-for-repair lifecycle, each a real step on a real unit:
-- open a return (field receiver), hand the unit over to after-sales (field receiver), sign the
-- handover (after-sales), register it (after-sales).
--
-- Each wrk thread walks a pool of POOL unit slots round-robin; the n-th visit to a slot makes
-- the next step on its unit, and after the fourth step the slot moves on to a fresh unit. With
-- POOL far above the connections of a thread, a step is sent long after the step before it on
-- the same unit was answered (wrk keeps one request in flight per connection), so every
-- request should succeed: the script prints how many did not.
local POOL = 4000
local counter = 0
-- The serials' prefix: `wrk ... -s bench/lifecycle.lua URL -- PREFIX`, so that several runs
-- against one server use fresh units.
local prefix = "L"

function init(args)
  prefix = args[1] or "L"
end
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_id", #threads)  -- a global of that thread's script
end

local fr = "Bearer dev-token-field-receiver"
local as = "Bearer dev-token-after-sales"
local open_body = [[{"return_id":"R-%s","mode":"carried","customer":{"customer_id":"C-1","name":"Plant"},
"product":{"model":"RD-40","production_date":"2025-09-01","warranty_end":"2027-09-01"},
"form":{"fault_symptoms":"no output","site":"line 3","circumstances":"after a power cut","filled_by":"li.fr","unverifiable_reason":null},
"customer_signature":{"name":"Plant","signed_at":"2026-03-02T08:00:00Z","evidence":{"kind":"typed","reason":"signed the paper handover form"}},"receiver_returned_at":null,"customer_due_date":null}]]

local function post(path, token, body)
  return wrk.format("POST", path, {["Authorization"] = token, ["Content-Type"] = "application/json"}, body)
end

-- wrk calls request() once on the first thread before the run, only to check what it returns.
local checked = false

request = function()
  if thread_id == 1 and not checked then
    checked = true
    return post("/v1/units/CHECK/registration", as, "{}")
  end
  local slot = counter % POOL
  local pass = math.floor(counter / POOL)
  counter = counter + 1
  local step = pass % 4
  local serial = prefix .. thread_id .. "-" .. math.floor(pass / 4) .. "-" .. slot
  local unit = "/v1/units/" .. serial
  if step == 0 then
    return post(unit .. "/returns", fr, string.format(open_body, serial))
  elseif step == 1 then
    return post(unit .. "/handovers", fr,
      '{"handover_id":"H-' .. serial .. '","to_person_id":"wang.as","plan_id":null}')
  elseif step == 2 then
    return post(unit .. "/handovers/H-" .. serial .. "/signature", as, "{}")
  else
    return post(unit .. "/registration", as, "{}")
  end
end

local failed = 0
response = function(status, headers, body)
  if status ~= 200 then
    failed = failed + 1
    if failed <= 3 then
      io.stderr:write("lifecycle: HTTP " .. status .. ": " .. string.sub(body, 1, 300) .. "\n")
    end
  end
end
