--[[
    This file is part of hotwatch, a watcher for hot, stuck and dead pixels.

    Copyright (c) 2026 the hotwatch authors

    hotwatch is free software: you can redistribute it and/or modify it under
    the terms of the MIT licence (see the LICENSE file of the hotwatch
    repository). It is distributed in the hope that it will be useful, but
    WITHOUT ANY WARRANTY; without even the implied warranty of
    MERCHANTABILITY or FITNESS FOR A PARTICULAR PURPOSE.
]]

--[[
    hotwatch.lua - tag and heal the known hot, stuck and dead pixels of your bodies

    hotwatch keeps, for each camera body, the list of its defective photosites
    and when each one appeared. This script asks hotwatch about each imported
    (or selected) photo, tags it and heals exactly the listed defects with a
    retouch instance named "hotwatch" (one heal circle per defect). Your own
    edits and retouch shapes are kept; running it twice changes nothing.

    ADDITIONAL SOFTWARE NEEDED FOR THIS SCRIPT
    * hotwatch (https://github.com/hotwatch/hotwatch): the `hotwatch` command on
      PATH, or its full path set in preferences > lua options

    USAGE
    * install with `hotwatch darktable install` (it copies this file to
      <config>/lua/hotwatch/hotwatch.lua), then enable it in the script manager,
      or add `require "hotwatch/hotwatch"` to luarc
    * photos are checked when imported; in the lighttable, select photos and
      press "hotwatch: tag and heal" in the selected images module, or use the
      shortcut you assign to "hotwatch: tag and heal selected images"
    * tags: hotwatch|hot pixels|N (and stuck/dead), hotwatch|body|MAKE MODEL
      SERIAL, hotwatch|healed

    CAVEATS
    * darktable 4.2 has no Lua call to reload a sidecar: the script syncs the
      sidecar, lets hotwatch patch it, removes the image from the library
      (never from disk) and imports it again. It refuses when darktable is set
      to never write sidecar files, because the re-import would lose edits.
    * close the photo in the darkroom before healing it.
]]

-- pure helpers first: they load in a plain Lua interpreter for the tests

local M = {}

local MODULE <const> = "hotwatch"
local MIN_API <const> = "9.0.0"

--- Quote a string for a POSIX shell: 'it'\''s' (lib/dtutils/string.lua sanitize).
function M.quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

--- Compare dotted versions: true when `have` >= `want`.
function M.api_at_least(have, want)
  local function parts(v)
    local out = {}
    for n in tostring(v):gmatch("%d+") do out[#out + 1] = tonumber(n) end
    return out
  end
  local a, b = parts(have), parts(want)
  for i = 1, math.max(#a, #b) do
    local x, y = a[i] or 0, b[i] or 0
    if x ~= y then return x > y end
  end
  return true
end

-- a small JSON decoder (RFC 8259); null decodes to nil
local function json_error(str, pos, msg)
  error(string.format("json: %s at position %d near %q", msg, pos, str:sub(pos, pos + 10)), 0)
end

local function skip_ws(str, pos)
  return str:find("[^ \t\r\n]", pos) or (#str + 1)
end

local function utf8_char(cp)
  return utf8.char(cp)
end

local decode_value

local function decode_string(str, pos)
  -- pos is at the opening quote
  local out, i = {}, pos + 1
  while true do
    local c = str:sub(i, i)
    if c == "" then json_error(str, pos, "unterminated string") end
    if c == '"' then return table.concat(out), i + 1 end
    if c == "\\" then
      local e = str:sub(i + 1, i + 1)
      local simple = { ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f",
                       n = "\n", r = "\r", t = "\t" }
      if simple[e] then
        out[#out + 1] = simple[e]
        i = i + 2
      elseif e == "u" then
        local hex = str:sub(i + 2, i + 5)
        if not hex:match("^%x%x%x%x$") then json_error(str, i, "bad \\u escape") end
        local cp = tonumber(hex, 16)
        i = i + 6
        if cp >= 0xD800 and cp <= 0xDBFF then
          local low = str:match("^\\u(%x%x%x%x)", i)
          local lo = low and tonumber(low, 16)
          if not lo or lo < 0xDC00 or lo > 0xDFFF then json_error(str, i, "lone surrogate") end
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00)
          i = i + 6
        elseif cp >= 0xDC00 and cp <= 0xDFFF then
          json_error(str, i, "lone surrogate")
        end
        out[#out + 1] = utf8_char(cp)
      else
        json_error(str, i, "bad escape")
      end
    elseif c:byte() < 0x20 then
      json_error(str, i, "control character in string")
    else
      local j = str:find('["\\%c]', i)
      if not j then json_error(str, pos, "unterminated string") end
      out[#out + 1] = str:sub(i, j - 1)
      i = j
    end
  end
end

local function decode_number(str, pos)
  local num = str:match("^-?%d+%.?%d*[eE]?[-+]?%d*", pos)
  if not num or not num:match("^-?%d") then json_error(str, pos, "bad number") end
  local value = tonumber(num)
  if value == nil then json_error(str, pos, "bad number") end
  return value, pos + #num
end

decode_value = function(str, pos)
  pos = skip_ws(str, pos)
  local c = str:sub(pos, pos)
  if c == "{" then
    local obj = {}
    pos = skip_ws(str, pos + 1)
    if str:sub(pos, pos) == "}" then return obj, pos + 1 end
    while true do
      pos = skip_ws(str, pos)
      if str:sub(pos, pos) ~= '"' then json_error(str, pos, "expected a key") end
      local key
      key, pos = decode_string(str, pos)
      pos = skip_ws(str, pos)
      if str:sub(pos, pos) ~= ":" then json_error(str, pos, "expected ':'") end
      local value
      value, pos = decode_value(str, pos + 1)
      obj[key] = value
      pos = skip_ws(str, pos)
      local d = str:sub(pos, pos)
      if d == "}" then return obj, pos + 1 end
      if d ~= "," then json_error(str, pos, "expected ',' or '}'") end
      pos = pos + 1
    end
  elseif c == "[" then
    local arr, n = {}, 0
    pos = skip_ws(str, pos + 1)
    if str:sub(pos, pos) == "]" then return arr, pos + 1 end
    while true do
      local value
      value, pos = decode_value(str, pos)
      n = n + 1
      arr[n] = value
      pos = skip_ws(str, pos)
      local d = str:sub(pos, pos)
      if d == "]" then return arr, pos + 1 end
      if d ~= "," then json_error(str, pos, "expected ',' or ']'") end
      pos = pos + 1
    end
  elseif c == '"' then
    return decode_string(str, pos)
  elseif str:sub(pos, pos + 3) == "true" then
    return true, pos + 4
  elseif str:sub(pos, pos + 4) == "false" then
    return false, pos + 5
  elseif str:sub(pos, pos + 3) == "null" then
    return nil, pos + 4
  elseif c:match("[-%d]") then
    return decode_number(str, pos)
  end
  json_error(str, pos, "unexpected character")
end

--- Decode a JSON text; raises an error string on malformed input.
function M.json_decode(str)
  local value, pos = decode_value(str, 1)
  pos = skip_ws(str, pos)
  if pos <= #str then json_error(str, pos, "trailing data") end
  return value
end

--- A tag name component: no '|' (it would create levels) and no control characters.
function M.tag_part(s)
  return (tostring(s):gsub("[|%c]", " "):gsub("^%s+", ""):gsub("%s+$", ""))
end

--- The tags hotwatch attaches for an `info` answer (a list of tag names).
function M.tags_for(info)
  local tags = {}
  local body = info.body
  if type(body) == "table" then
    local parts = {}
    for _, key in ipairs({ "make", "model", "serial" }) do
      if body[key] and body[key] ~= "" then parts[#parts + 1] = M.tag_part(body[key]) end
    end
    tags[#tags + 1] = "hotwatch|body|" .. table.concat(parts, " ")
  end
  local counts = { hot = 0, stuck = 0, dead = 0 }
  for _, d in ipairs(info.defects or {}) do
    if counts[d.kind] then counts[d.kind] = counts[d.kind] + 1 end
  end
  for _, kind in ipairs({ "hot", "stuck", "dead" }) do
    if counts[kind] > 0 then
      tags[#tags + 1] = string.format("hotwatch|%s pixels|%d", kind, counts[kind])
    end
  end
  return tags
end

--- True when a sidecar still holds hotwatch's shapes (a retired defect must be un-healed).
function M.has_hotwatch_shapes(info)
  for _, s in ipairs(info.sidecars or {}) do
    if (tonumber(s.hotwatch_shapes) or 0) > 0 then return true end
  end
  return false
end

--- A message when darktable's idea of the image size disagrees with the size hotwatch
--- mapped the defects to (darktable's uncropped input: raw buffer or JPEG grid), else nil.
--- A size of 0 means darktable has not loaded the image yet: nothing to compare.
function M.size_mismatch(info, width, height)
  local pw, ph = tonumber(info.pipe_width), tonumber(info.pipe_height)
  width, height = tonumber(width) or 0, tonumber(height) or 0
  if not pw or not ph or width <= 0 or height <= 0 then return nil end
  if pw == width and ph == height then return nil end
  return string.format("darktable sees %dx%d, hotwatch mapped its defects to %dx%d",
    width, height, pw, ph)
end

--- The shell command that runs `hotwatch darktable <verb> FILE --json`, every word quoted.
function M.command(executable, verb, path)
  return table.concat({ M.quote(executable), "darktable", M.quote(verb), M.quote(path), "--json" },
    " ") .. " 2>&1"
end

--- The value of write_sidecar_files in a darktablerc text ("on import" by default).
function M.write_sidecar_setting(rc_text)
  local value = "on import"
  for line in (rc_text or ""):gmatch("[^\n]+") do
    local v = line:match("^write_sidecar_files=(.*)$")
    if v then value = v:gsub("%s+$", "") end
  end
  if value == "TRUE" then value = "on import" elseif value == "FALSE" then value = "never" end
  return value
end

M.MODULE = MODULE
M.MIN_API = MIN_API

local dt_ok, dt = pcall(require, "darktable")
if not dt_ok then
  return M -- outside darktable: the pure helpers only
end

-- ------------------------------------------------------------------ API CHECK

if not M.api_at_least(dt.configuration.api_version_string, MIN_API) then
  dt.print_error(string.format("hotwatch needs darktable Lua API %s or later, this is %s",
    MIN_API, dt.configuration.api_version_string))
  return M
end

-- ----------------------------------------------------------------------- I18N

local gettext = dt.gettext
if gettext.bindtextdomain then
  gettext.bindtextdomain(MODULE, dt.configuration.config_dir .. "/lua/locale/")
end

local function _(msgid)
  if gettext.dgettext then return gettext.dgettext(MODULE, msgid) end
  return gettext.gettext(msgid)
end

-- ------------------------------------------------ SCRIPT MANAGER INTEGRATION

local script_data = {}

script_data.metadata = {
  name = "hotwatch",
  purpose = _("tag and heal the known hot, stuck and dead pixels of your camera bodies"),
  author = "the hotwatch authors",
  help = "https://github.com/hotwatch/hotwatch"
}

script_data.destroy = nil
script_data.destroy_method = nil
script_data.restart = nil
script_data.show = nil

-- ---------------------------------------------------------------- PREFERENCES

dt.preferences.register(MODULE, "executable", "file",
  _("hotwatch: executable"),
  _("the hotwatch program (a name on PATH or a full path)"),
  "hotwatch")

dt.preferences.register(MODULE, "on_import", "bool",
  _("hotwatch: tag and heal on import"),
  _("check every imported photo with hotwatch, tag it and heal its known defects"),
  true)

-- ------------------------------------------------------------------- RUNNING

local state = { queue = {}, busy = false, reimporting = false }

local function executable()
  local exe = dt.preferences.read(MODULE, "executable", "file")
  if exe == nil or exe == "" then exe = "hotwatch" end
  return exe
end

--- Run hotwatch and decode its JSON answer; returns value or nil, message.
local function run_hotwatch(verb, path)
  local pipe = io.popen(M.command(executable(), verb, path), "r")
  if not pipe then return nil, _("cannot start hotwatch") end
  local out = pipe:read("a")
  local ok, how, code = pipe:close()
  if not ok and how == "exit" and (code == 127 or code == 126) then
    return nil, _("hotwatch not found: set its path in preferences > lua options")
  end
  local decoded_ok, value = pcall(M.json_decode, out)
  if not decoded_ok or type(value) ~= "table" then
    return nil, string.format(_("hotwatch failed: %s"), (out or ""):sub(1, 200))
  end
  return value
end

local function sidecar_setting()
  local f = io.open(dt.configuration.config_dir .. "/darktablerc", "r")
  if not f then return "on import" end
  local text = f:read("a")
  f:close()
  return M.write_sidecar_setting(text)
end

local function attach(image, name)
  local tag = dt.tags.create(name)
  image:attach_tag(tag)
end

--- Replace hotwatch's own count tags, then attach the new ones.
local function retag(image, tags)
  for _, tag in ipairs(image:get_tags()) do
    local name = tag.name
    if name:match("^hotwatch|[%a ]+ pixels|") or name:match("^hotwatch|body|") then
      local keep = false
      for _, t in ipairs(tags) do if t == name then keep = true end end
      if not keep then image:detach_tag(tag) end
    end
  end
  for _, t in ipairs(tags) do attach(image, t) end
end

--- The images in the library that are versions of the same file.
local function versions_of(image)
  local out = {}
  for _, other in ipairs(dt.database) do
    if other.path == image.path and other.filename == image.filename then
      out[#out + 1] = other
    end
  end
  return out
end

local function direct_reload(image)
  -- newer darktable versions may offer a way to reload a sidecar; detect it
  local ok, fn = pcall(function() return image.apply_sidecar end)
  if ok and type(fn) == "function" then return fn end
  return nil
end

--- Get the patched sidecar(s) into the library; returns the new image (or the old one).
local function reload(image, versions)
  local fn = direct_reload(image)
  if fn then
    for _, v in ipairs(versions) do
      fn(v, v.sidecar)
    end
    return image
  end
  local path = image.path .. "/" .. image.filename
  state.reimporting = true
  for _, v in ipairs(versions) do v:delete() end
  local ok, new = pcall(dt.database.import, path)
  state.reimporting = false
  if not ok then
    dt.print_error("hotwatch: re-import failed: " .. tostring(new))
    return nil
  end
  return new
end

--- Check, tag and heal one image; returns a short message for the summary.
local function process_one(image, write_setting)
  local path = image.path .. "/" .. image.filename
  local info, err = run_hotwatch("info", path)
  if not info then return err, true end
  if info.error then
    if info.error == "unknown body" then
      return string.format(_("%s: unknown body"), image.filename)
    end
    return string.format(_("%s: %s"), image.filename, tostring(info.reason or info.error))
  end
  local mismatch = M.size_mismatch(info, image.width, image.height)
  if mismatch then
    return string.format(_("%s: not healed: %s"), image.filename, mismatch), true
  end
  local tags = M.tags_for(info)
  retag(image, tags) -- also makes darktable write the current sidecar
  if #(info.defects or {}) == 0 and not M.has_hotwatch_shapes(info) then
    return string.format(_("%s: nothing to fix"), image.filename)
  end
  if write_setting == "never" and not direct_reload(image) then
    return string.format(
      _("%s: not healed: darktable is set to never write sidecar files"), image.filename)
  end
  local versions = versions_of(image)
  for _, v in ipairs(versions) do
    if v ~= image then retag(v, tags) end -- sync every version's sidecar first
  end
  local answer
  answer, err = run_hotwatch("heal", path)
  if not answer then return err, true end
  local result = (answer.results or {})[1] or {}
  if result.status == "healed" then
    local new = reload(image, versions)
    if not new then return string.format(_("%s: re-import failed"), image.filename), true end
    for _, v in ipairs(versions_of(new)) do attach(v, "hotwatch|healed") end
    return string.format(_("%s: healed %d defects"), image.filename, result.defects or 0)
  elseif result.status == "unchanged" then
    attach(image, "hotwatch|healed")
    return string.format(_("%s: already healed"), image.filename)
  elseif result.status == "nothing to fix" then
    return string.format(_("%s: nothing to fix"), image.filename)
  end
  return string.format(_("%s: not healed: %s"), image.filename,
    tostring(result.reason or result.status)), true
end

local function process(images)
  if state.busy or #images == 0 then return end
  state.busy = true
  local write_setting = sidecar_setting()
  local job = dt.gui.create_job(_("hotwatch: tag and heal"), true, function(job)
    job.valid = false
  end)
  local last, failures = nil, 0
  for i, image in ipairs(images) do
    if dt.control.ending or not job.valid then break end
    local ok, msg, failed = pcall(process_one, image, write_setting)
    if not ok then msg, failed = string.format(_("hotwatch failed: %s"), tostring(msg)), true end
    if failed then failures = failures + 1 end
    last = msg
    dt.print_log("hotwatch: " .. tostring(msg))
    job.percent = i / #images
  end
  if job.valid then job.valid = false end
  state.busy = false
  if #images == 1 then
    dt.print(last or "")
  else
    dt.print(string.format(_("hotwatch: %d photos checked, %d problems"), #images, failures))
  end
end

-- --------------------------------------------------------------------- EVENTS

dt.register_event(MODULE, "post-import-image", function(_event, image)
  if not state.reimporting then table.insert(state.queue, image) end
end)

dt.register_event(MODULE, "post-import-film", function(_event, _film)
  local queued = state.queue
  state.queue = {}
  if dt.preferences.read(MODULE, "on_import", "bool") then process(queued) end
end)

dt.gui.libs.image.register_action(MODULE, _("hotwatch: tag and heal"),
  function(_event, images) process(images) end,
  _("tag the selected photos with their body's defects and heal them"))

dt.register_event(MODULE .. "_shortcut", "shortcut", function(_event, _shortcut)
  process(dt.gui.action_images)
end, _("hotwatch: tag and heal selected images"))

-- ------------------------------------------------------------------- DESTROY

local function destroy()
  dt.destroy_event(MODULE, "post-import-image")
  dt.destroy_event(MODULE, "post-import-film")
  dt.destroy_event(MODULE .. "_shortcut", "shortcut")
  dt.gui.libs.image.destroy_action(MODULE)
end

script_data.destroy = destroy

M.process = process
M.script_data = script_data
script_data.helpers = M

return script_data
