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
    * darktable 5.2 and later (Lua API 9.5.0) reload the healed sidecar with
      image:apply_sidecar. Older versions (4.2, 5.0) have no such call: the
      script lets hotwatch patch the sidecar, removes the image from the
      library (never from disk), imports it again and checks that the heal
      arrived. Either way the sidecar must reflect the library first, so the
      script refuses to heal when darktable is set to never write sidecar files.
    * close the photo in the darkroom before healing it.
    * darktable 5.6 ships the lua-scripts; your own copy in <config>/lua takes
      priority. The script manager of either finds this script in
      <config>/lua/hotwatch, where `hotwatch darktable install` puts it.
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
--- Give it image.width/height: the sensor buffer darktable normalises mask coordinates by.
--- Not p_width/p_height (Lua API 9.1.0: after rawprepare's crop, which follows rawspeed's
--- crop and may differ from LibRaw's margins, and which is 0 until the image is processed)
--- nor final_width/final_height (after the whole pipe: crop, rotation, lens).
function M.size_mismatch(info, width, height)
  local pw, ph = tonumber(info.pipe_width), tonumber(info.pipe_height)
  width, height = tonumber(width) or 0, tonumber(height) or 0
  if not pw or not ph or width <= 0 or height <= 0 then return nil end
  if pw == width and ph == height then return nil end
  return string.format("darktable sees %dx%d, hotwatch mapped its defects to %dx%d",
    width, height, pw, ph)
end

--- The shell command that runs `hotwatch darktable <verb> FILE --json [FLAG...]`, every
--- word quoted.
function M.command(executable, verb, path, flags)
  local words = { M.quote(executable), "darktable", M.quote(verb), M.quote(path), "--json" }
  for _, flag in ipairs(flags or {}) do words[#words + 1] = M.quote(flag) end
  return table.concat(words, " ") .. " 2>&1"
end

--- What this darktable's Lua API offers, from its version alone. Nothing is probed: reading
--- a field an image does not have raises an error (and in API 9.7.0 reading a metadata
--- field that is not defined is fatal), so the script reads only fields its API has.
function M.features(api)
  return {
    apply_sidecar = M.api_at_least(api, "9.5.0"), -- image:apply_sidecar(path), darktable 5.2
    processed_size = M.api_at_least(api, "9.1.0"), -- p_width, final_width..., darktable 4.4
    -- darktable 5.6: darktable.metadata.exists(name). The script reads no metadata field
    -- (tests/test_lua.py holds it to that); one that does must ask exists() first when
    -- this is true, and read only the fixed fields of older APIs otherwise.
    -- not used to read metadata (the plugin reads none); kept so that the tests and the
    -- log state which API rule applies to this darktable
    metadata_exists = M.api_at_least(api, "9.7.0"),
  }
end

--- Text as it appears between XML tags.
function M.xml_text(s)
  return (tostring(s):gsub("&", "&amp;"):gsub("<", "&lt;"):gsub(">", "&gt;"))
end

--- True when a sidecar's text lists every one of `tags` (as darktable writes them, one
--- rdf:li each): darktable has written the tags the script attached.
function M.sidecar_has_tags(text, tags)
  if not text then return false end
  for _, tag in ipairs(tags) do
    if not text:find(">" .. M.xml_text(tag) .. "<", 1, true) then return false end
  end
  return true
end

--- The last component of a path.
function M.basename(path)
  return (tostring(path):match("([^/]*)$"))
end

--- The staged sidecars of a `heal --staged` result: sidecar file name -> staged file.
--- (Names, not paths: every version's sidecar lies in the photo's folder, and darktable
--- and hotwatch may spell that folder differently.)
function M.staged_files(result)
  local out = {}
  for _, s in ipairs((result or {}).sidecars or {}) do
    if s.staged then out[M.basename(s.path)] = s.staged end
  end
  return out
end

--- The value of write_sidecar_files in a darktablerc text ("on import" by default).
function M.write_sidecar_setting(rc_text)
  local value = "on import"
  for line in (rc_text or ""):gmatch("[^\n]+") do
    local found = line:match("^write_sidecar_files=(.*)$")
    if found then value = found:gsub("%s+$", "") end
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

local FEATURES <const> = M.features(dt.configuration.api_version_string)
local HEALED_TAG <const> = "hotwatch|healed"
local SIDECAR_WAIT_MS <const> = 5000 -- darktable 5.x writes sidecars about once a second
local REIMPORT_TRIES <const> = 3

-- queue: imported, not checked yet; pending: to check after the current run; written:
-- sidecars darktable is to write with the healed tag before the run ends
local state = { queue = {}, pending = {}, written = {}, busy = false, reimporting = false }
--- photos checked so far, and whether a check is running (for tests and other scripts)
M.stats = { photos = 0, busy = false }

local function executable()
  local exe = dt.preferences.read(MODULE, "executable", "file")
  if exe == nil or exe == "" then exe = "hotwatch" end
  return exe
end

--- Run hotwatch and decode its JSON answer; returns value or nil, message.
local function run_hotwatch(verb, path, flags)
  local pipe = io.popen(M.command(executable(), verb, path, flags), "r")
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

local function read_file(path)
  local f = io.open(path, "r")
  if not f then return nil end
  local text = f:read("a")
  f:close()
  return text
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

--- Tag an image as healed and have darktable write its sidecar from the library (which
--- now holds the heal): attaching a tag the image already has writes nothing.
local function mark_healed(image)
  local tag = dt.tags.create(HEALED_TAG)
  image:detach_tag(tag)
  image:attach_tag(tag)
  table.insert(state.written, image.sidecar)
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

--- Wait until darktable has written `tags` into every one of the sidecar files `paths`.
--- darktable 4.2 writes a sidecar as a tag is attached; 5.x queues the write for a
--- background job that runs about once a second (and drops what is still queued when
--- darktable quits).
local function wait_for_tags(paths, tags)
  local waited = 0
  while true do
    local written = true
    for _, p in ipairs(paths) do
      if not M.sidecar_has_tags(read_file(p), tags) then written = false end
    end
    if written then return true end
    if waited >= SIDECAR_WAIT_MS then return false end
    dt.control.sleep(100)
    waited = waited + 100
  end
end

--- Wait until the sidecar of every version holds `tags`: then hotwatch patches what the
--- library holds.
local function wait_for_sidecars(versions, tags)
  local paths = {}
  for _, v in ipairs(versions) do paths[#paths + 1] = v.sidecar end
  return wait_for_tags(paths, tags)
end

--- The summary line for a `heal` result; HOW says how a heal reached the library.
local function describe(image, result, how)
  if result.status == "healed" then
    return string.format(_("%s: healed %d defects (%s)"), image.filename, result.defects or 0,
      how)
  elseif result.status == "unchanged" then
    return string.format(_("%s: already healed"), image.filename)
  elseif result.status == "nothing to fix" then
    return string.format(_("%s: nothing to fix"), image.filename)
  end
  return string.format(_("%s: not healed: %s"), image.filename,
    tostring(result.reason or result.status)), true
end

--- darktable 5.2 and later: hotwatch writes each healed sidecar beside the real one
--- (`heal --staged`) and darktable loads it with image:apply_sidecar. darktable's own
--- sidecar writes cannot come between, and it writes the real sidecar afterwards.
local function heal_by_apply(image, path, versions, tags)
  local answer, err = run_hotwatch("heal", path, { "--staged" })
  if not answer then return err, true end
  local result = (answer.results or {})[1] or {}
  local staged = M.staged_files(result)
  local failed, applied = nil, 0
  for _, v in ipairs(versions) do
    local file = staged[M.basename(v.sidecar)]
    if file then
      local ok, loaded = pcall(v.apply_sidecar, v, file)
      if ok and loaded ~= false then applied = applied + 1 else failed = tostring(loaded) end
    end
  end
  for _, file in pairs(staged) do os.remove(file) end
  if result.status == "healed" and applied == 0 then
    failed = failed or _("no sidecar of this photo's versions was healed")
  end
  if failed then
    return string.format(_("%s: not healed: darktable did not load the healed sidecar: %s"),
      image.filename, failed), true
  end
  if result.status == "healed" or result.status == "unchanged" then
    for _, v in ipairs(versions) do
      retag(v, tags) -- apply_sidecar set the tags to the sidecar's
      mark_healed(v)
    end
  end
  return describe(image, result, _("sidecar applied"))
end

--- Remove every version from the library (never from disk), let hotwatch patch the
--- sidecar, import the file again; returns the new image (or nil, a message) and the
--- `heal` answer (or nil, its error). The patch comes after the removal: darktable 4.2
--- writes an image's sidecar from the library as it takes the image out of its group
--- (a RAW+JPEG pair), which would undo a patch made before.
local function reimport_healed(path, versions)
  state.reimporting = true
  for _, v in ipairs(versions) do v:delete() end
  local answer, err = run_hotwatch("heal", path)
  local ok, new = pcall(dt.database.import, path)
  state.reimporting = false
  if not ok or not new then
    dt.print_error("hotwatch: re-import failed: " .. tostring(new))
    return nil, string.format(_("%s: re-import failed"), path)
  end
  return new, answer, err
end

--- darktable 4.2 and 5.0 (no apply_sidecar): the photo leaves the library, hotwatch
--- patches its sidecar, darktable imports it again; then hotwatch checks that the heal
--- is in the sidecar darktable wrote from its library, and the round is repeated if not.
local function heal_by_reimport(image, path, versions, tags)
  -- first ask, without touching the sidecar, whether there is anything to heal
  local answer, err = run_hotwatch("heal", path, { "--staged" })
  if not answer then return err, true end
  local result = (answer.results or {})[1] or {}
  for _, file in pairs(M.staged_files(result)) do os.remove(file) end
  if result.status == "unchanged" then
    for _, v in ipairs(versions) do mark_healed(v) end
  end
  if result.status ~= "healed" then return describe(image, result) end
  local name = image.filename -- `image` is gone from the library after the first round
  for attempt = 1, REIMPORT_TRIES do
    if attempt > 1 then
      dt.print_log(string.format("hotwatch: %s: darktable wrote over the healed sidecar, "
        .. "healing again (round %d)", name, attempt))
    end
    local new, healed, heal_err = reimport_healed(path, versions)
    if not new then return healed, true end
    if not healed then return heal_err, true end
    local first = (healed.results or {})[1] or {}
    if first.status ~= "healed" and first.status ~= "unchanged" then
      return describe(new, first)
    end
    versions = versions_of(new)
    for _, v in ipairs(versions) do
      retag(v, tags)
      attach(v, HEALED_TAG)
      table.insert(state.written, v.sidecar)
    end
    local check, check_err = run_hotwatch("heal", path)
    if not check then return check_err, true end
    local again = (check.results or {})[1] or {}
    if again.status == "unchanged" then return describe(new, result, _("re-imported")) end
    if again.status ~= "healed" then return describe(new, again) end
  end
  return string.format(_("%s: not healed: darktable kept writing over the healed sidecar"),
    name), true
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
  if write_setting == "never" then
    return string.format(
      _("%s: not healed: darktable is set to never write sidecar files"), image.filename)
  end
  local versions = versions_of(image)
  for _, v in ipairs(versions) do
    if v ~= image then retag(v, tags) end -- sync every version's sidecar first
  end
  if not wait_for_sidecars(versions, tags) then
    return string.format(_("%s: not healed: darktable did not write its sidecar"),
      image.filename), true
  end
  if FEATURES.apply_sidecar then return heal_by_apply(image, path, versions, tags) end
  return heal_by_reimport(image, path, versions, tags)
end

local function process(images)
  if #images == 0 then return end
  if state.busy then -- a run is going on (waiting for darktable): check these after it
    for _, image in ipairs(images) do table.insert(state.pending, image) end
    return
  end
  state.busy, M.stats.busy = true, true
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
    M.stats.photos = M.stats.photos + 1
    job.percent = i / #images
  end
  -- the run ends when darktable has written the healed sidecars (5.x writes them in the
  -- background and forgets the queue when it quits)
  if not wait_for_tags(state.written, { HEALED_TAG }) then
    dt.print_log("hotwatch: darktable had not written every healed sidecar when the run ended")
  end
  state.written = {}
  if job.valid then job.valid = false end
  state.busy = false
  if #images == 1 then
    dt.print(last or "")
  else
    dt.print(string.format(_("hotwatch: %d photos checked, %d problems"), #images, failures))
  end
  local pending = state.pending
  state.pending = {}
  if #pending > 0 and not dt.control.ending then
    process(pending)
  else
    M.stats.busy = false
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
