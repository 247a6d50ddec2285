-- wrk script: POST /api/v2/payments with a unique tx_id per request.
-- PREFIX (unique per run) and CALLBACK come from the environment; bench/run.py sets both.
local prefix = os.getenv("PREFIX") or "wrk_"
local callback = os.getenv("CALLBACK") or "http://127.0.0.1:9/hook"
local next_thread = 0

function setup(thread)
  next_thread = next_thread + 1
  thread:set("tid", next_thread)
end

local counter = 0
wrk.method = "POST"
wrk.path = "/api/v2/payments"
wrk.headers["Content-Type"] = "application/json"

function request()
  counter = counter + 1
  local body = '{"version":"v2","order_id":1,"user_id":1,"amount":1000,"callback_url":"' .. callback
    .. '","tx_id":"' .. prefix .. tostring(tid) .. "_" .. counter .. '"}'
  return wrk.format(nil, nil, nil, body)
end
