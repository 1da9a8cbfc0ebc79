-- The soak's mixed workload, through the HTML forms with their CSRF tokens:
-- anonymous page views, logins, the key list, the account page, and adding,
-- confirming and deleting keys. Each wrk thread acts for its own pair of
-- users (one whose keys it manages, one it logs in as, so the first one's
-- session list stays short), numbered from 1:
--
--   SOAK_COOKIE_n, SOAK_CSRF_n          logged-in session of the keys user
--   SOAK_PRE_COOKIE_n, SOAK_PRE_CSRF_n  an anonymous visitor's CSRF cookie and token, for the login form
--   SOAK_LOGIN_EMAIL_n                  the account the thread logs in as
--   SOAK_PASSWORD                       everyone's password
--   SOAK_USERS                          how many such sets there are
--   SOAK_DELAY_MS                       think time before each request (may be fractional)
--
-- Keys are added and deleted one for one, so the list stays the same length;
-- ids to delete come from the /keys pages the thread has seen, each used once,
-- and a key is deleted only after its confirmation page has been answered.

local common = dofile((os.getenv("BENCH_LUA_DIR") or "bench") .. "/common.lua")

local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("index", counter)
  threads[#threads + 1] = thread
end

local cycle = {
  "login_page", "keys", "home", "keys", "add", "login_page", "keys", "account",
  "login_page", "keys", "confirm", "delete", "login_page", "keys", "home", "keys",
  "login", "login_page", "keys", "account", "login_page", "keys", "home", "keys",
}

local requests_by_step = {}
local step = 0
local known = {}  -- ids seen on a /keys page, not yet taken, oldest first
local queued = {} -- the same ids, as a set
local taken = {}  -- ids already chosen for deletion (never chosen again)
local confirmed = {} -- ids whose confirmation page was answered, to delete next
local added = 0
local statuses = {}
local think = 0

function init(args)
  local users = tonumber(common.env("SOAK_USERS"))
  local n = ((index - 1) % users) + 1
  local password = common.env("SOAK_PASSWORD")
  local session = { ["Cookie"] = common.env("SOAK_COOKIE_" .. n) }
  local form_session = {
    ["Cookie"] = common.env("SOAK_COOKIE_" .. n),
    ["Content-Type"] = "application/x-www-form-urlencoded",
  }
  csrf = common.env("SOAK_CSRF_" .. n)
  user_tag = "t" .. index
  think = tonumber(os.getenv("SOAK_DELAY_MS") or "0") or 0
  math.randomseed(index * 7919 + os.time())

  local login_body = common.form({
    { "csrf_token", common.env("SOAK_PRE_CSRF_" .. n) },
    { "email", common.env("SOAK_LOGIN_EMAIL_" .. n) },
    { "password", password },
    { "next", "" },
  })
  local login_headers = {
    ["Cookie"] = common.env("SOAK_PRE_COOKIE_" .. n),
    ["Content-Type"] = "application/x-www-form-urlencoded",
  }

  requests_by_step.login_page = wrk.format("GET", "/login", {})
  requests_by_step.home = wrk.format("GET", "/", {})
  requests_by_step.keys = wrk.format("GET", "/keys", session)
  requests_by_step.account = wrk.format("GET", "/account", session)
  requests_by_step.login = wrk.format("POST", "/login", login_headers, login_body)
  session_headers = session
  form_headers = form_session
end

local function padded(prefix, length)
  local text = prefix
  while #text < length do
    text = text .. "Z9y8X7w6"
  end
  return text:sub(1, length)
end

local function take_id()
  while #known > 0 do
    local id = table.remove(known, 1)
    queued[id] = nil
    if not taken[id] then
      taken[id] = true
      return id
    end
  end
  return nil
end

function request()
  step = step % #cycle + 1
  local kind = cycle[step]
  if kind == "add" then
    added = added + 1
    local tag = "SOAK" .. user_tag .. "n" .. added .. "q"
    return wrk.format("POST", "/keys", form_headers, common.form({
      { "csrf_token", csrf },
      { "label", "soak " .. user_tag .. " #" .. added },
      { "api_key", padded(tag, 64) },
      { "secret_key", padded("SECRET" .. tag, 64) },
    }))
  elseif kind == "confirm" then
    local id = take_id()
    if id == nil then
      return requests_by_step.keys
    end
    return wrk.format("GET", "/keys/" .. id .. "/delete", session_headers)
  elseif kind == "delete" then
    -- Only a key whose confirmation page has come back: the two requests may
    -- travel on different connections, and the delete must not overtake it.
    local id = table.remove(confirmed, 1)
    if id == nil then
      return requests_by_step.keys
    end
    return wrk.format("POST", "/keys/" .. id .. "/delete", form_headers, common.form({ { "csrf_token", csrf } }))
  end
  return requests_by_step[kind]
end

-- Counts by status code as "200:123,303:45" (sorted), how each thread hands
-- its counts to done() and how done() reports the sum.
local function joined_counts(counts)
  local parts = {}
  for code, count in pairs(counts) do
    parts[#parts + 1] = code .. ":" .. count
  end
  table.sort(parts)
  return table.concat(parts, ",")
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if body ~= nil and status == 200 then
    local confirm = body:match('action="/keys/(%d+)/delete"')
    if confirm ~= nil then
      confirmed[#confirmed + 1] = tonumber(confirm)
    end
    for id in body:gmatch('href="/keys/(%d+)/delete"') do
      local n = tonumber(id)
      if not taken[n] and not queued[n] then
        queued[n] = true
        known[#known + 1] = n
      end
    end
  end
  -- For done().
  status_counts = joined_counts(statuses)
end

if os.getenv("SOAK_DELAY_MS") then
  function delay()
    local whole = math.floor(think)
    if math.random() < think - whole then
      whole = whole + 1
    end
    return whole
  end
end

function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    local counts = thread:get("status_counts") or ""
    for code, count in counts:gmatch("(%d+):(%d+)") do
      total[code] = (total[code] or 0) + tonumber(count)
    end
  end
  common.report(summary, latency, "statuses=" .. joined_counts(total))
end
