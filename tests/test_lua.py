"""The darktable script outside darktable: lua5.4 loads the real file, luacheck passes.

Outside darktable ``pcall(require, "darktable")`` fails and the script returns
its table of pure helpers, which these tests drive through small Lua programs.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "plugins" / "darktable" / "hotwatch.lua"

# a canonical printer, so Lua's decoded value can be compared with Python's json.loads
DRIVER = r"""
local M = dofile(arg[1])
local function canon(v)
  local t = type(v)
  if t == "table" then
    if #v > 0 or next(v) == nil then
      local parts = {}
      for i = 1, #v do parts[i] = canon(v[i]) end
      if next(v) == nil then return "[]" end
      return "[" .. table.concat(parts, ",") .. "]"
    end
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = k end
    table.sort(keys)
    local parts = {}
    for _, k in ipairs(keys) do parts[#parts + 1] = string.format("%q", k) .. ":" .. canon(v[k]) end
    return "{" .. table.concat(parts, ",") .. "}"
  elseif t == "string" then return string.format("%q", v)
  elseif t == "number" then
    if math.type(v) == "integer" or v == math.floor(v) then return string.format("%d", v) end
    return string.format("%.6g", v)
  elseif t == "nil" then return "null"
  else return tostring(v) end
end
local mode = arg[2]
local input = io.read("a")
if mode == "quote" then
  for name in input:gmatch("([^%z]*)%z") do io.write(M.quote(name), "\0") end
elseif mode == "json" then
  local ok, v = pcall(M.json_decode, input)
  if ok then io.write(canon(v)) else io.write("ERROR ", v) end
elseif mode == "tags" then
  for _, t in ipairs(M.tags_for(M.json_decode(input))) do io.write(t, "\n") end
elseif mode == "command" then
  io.write(M.command("/opt/hot watch/bin/hotwatch", "info", input))
elseif mode == "size" then
  local w, h = input:match("(%d+) (%d+)")
  io.write(tostring(M.size_mismatch({ pipe_width = 336, pipe_height = 248 }, w, h)))
elseif mode == "rc" then
  io.write(M.write_sidecar_setting(input))
elseif mode == "api" then
  for a, b in input:gmatch("(%S+) (%S+)\n") do io.write(tostring(M.api_at_least(a, b)), "\n") end
elseif mode == "features" then
  for api in input:gmatch("%S+") do
    local f = M.features(api)
    io.write(string.format("%s %s %s %s\n", api, tostring(f.apply_sidecar),
      tostring(f.processed_size), tostring(f.metadata_exists)))
  end
elseif mode == "staged_command" then
  io.write(M.command("hotwatch", "heal", input, { "--staged" }))
elseif mode == "hastags" then
  local doc = M.json_decode(input)
  io.write(tostring(M.sidecar_has_tags(doc.text, doc.tags)))
elseif mode == "staged" then
  local names = {}
  for name, file in pairs(M.staged_files(M.json_decode(input))) do
    names[#names + 1] = name .. "=" .. file
  end
  table.sort(names)
  io.write(table.concat(names, "\n"))
end
"""


def lua(mode: str, data: bytes | str) -> bytes:
    if isinstance(data, str):
        data = data.encode("utf-8")
    proc = subprocess.run(
        ["lua5.4", "-e", DRIVER.replace("arg[1]", repr(str(SCRIPT))).replace("arg[2]", repr(mode))],
        input=data,
        capture_output=True,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout


def canon(v) -> str:
    """Python twin of the Lua canonical printer."""
    if isinstance(v, list):
        return "[" + ",".join(canon(x) for x in v) + "]"
    if isinstance(v, dict):
        if not v:
            return "[]"  # Lua cannot tell an empty object from an empty array
        return (
            "{" + ",".join(f"{luaq(k)}:{canon(v[k])}" for k in sorted(v) if v[k] is not None) + "}"
        )
    if isinstance(v, str):
        return luaq(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    if float(v) == int(v):
        return str(int(v))
    return f"{v:.6g}"


def luaq(s: str) -> str:
    """What Lua's %q prints for a string (enough for the test strings used here)."""
    out = ['"']
    for ch in s.encode("utf-8"):
        c = chr(ch)
        if c in '"\\':
            out.append("\\" + c)
        elif c == "\n":
            out.append("\\\n")
        elif c == "\0":
            out.append("\\0")
        elif ch < 32 or ch == 127:
            out.append(f"\\{ch}")
        else:
            out.append(chr(ch) if ch < 128 else bytes([ch]).decode("latin-1"))
    out.append('"')
    return "".join(out).encode("latin-1").decode("utf-8")


def test_script_compiles_and_passes_luacheck():
    subprocess.run(["luac5.4", "-p", str(SCRIPT)], check=True, timeout=30)
    proc = subprocess.run(
        ["luacheck", "--no-color", SCRIPT.name], cwd=SCRIPT.parent, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (SCRIPT.parent / ".luacheckrc").exists()


NASTY = [
    "plain.NEF",
    "with space.jpg",
    "it's.jpg",
    "''''.jpg",
    "$(touch pwned).jpg",
    "`touch pwned`.jpg",
    "a; rm -rf ~; b.jpg",
    "new\nline.jpg",
    "tab\there.jpg",
    "über Ärger 東京.jpg",
    '"double" \\back\\slash.jpg',
    "-dash-first.jpg",
    "*glob?[x].jpg",
    "$HOME ${IFS} !bang.jpg",
    "",
]


def test_quote_round_trips_through_a_real_shell(tmp_path):
    out = lua("quote", b"".join(n.encode("utf-8") + b"\0" for n in NASTY))
    quoted = out.split(b"\0")[:-1]
    assert len(quoted) == len(NASTY)
    for name, q in zip(NASTY, quoted, strict=True):
        proc = subprocess.run(
            ["sh", "-c", b"printf '%s' " + q], capture_output=True, cwd=tmp_path, timeout=10
        )
        assert proc.returncode == 0
        assert proc.stdout == name.encode("utf-8"), (name, q)
    assert list(tmp_path.iterdir()) == []  # nothing was executed


def test_command_quotes_every_word(tmp_path):
    path = str(tmp_path / "it's $(touch pwned); x.jpg")
    cmd = lua("command", path).decode("utf-8")
    assert cmd.startswith("'/opt/hot watch/bin/hotwatch' darktable 'info' ")
    # run it with a stand-in program name: the shell must see exactly four words
    probe = cmd.replace("'/opt/hot watch/bin/hotwatch'", "printf '[%s]'", 1)
    proc = subprocess.run(["sh", "-c", probe], capture_output=True, text=True, cwd=tmp_path)
    assert proc.stdout == f"[darktable][info][{path}][--json]"
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize(
    "doc",
    [
        '{"file": "/a/b.NEF", "body": {"make": "NIKON", "model": "D80", "serial": "3012345"}}',
        '{"defects": [{"x": 1, "y": 2, "kind": "hot"}, {"x": 30, "y": -4.5e2, "kind": "dead"}]}',
        '[1, [2, [3, [4, []]]], {}, {"a": {"b": {"c": [true, false]}}}]',
        r'{"esc": "quote \" backslash \\ slash \/ \b\f\n\r\t"}',
        r'{"u": "caf\u00e9 \u6771\u4eac \ud83d\ude00", "raw": "Ärger 東京"}',
        '  {"n": 0.25, "neg": -3, "exp": 1E3, "big": 1234567}  ',
        '{"error": null, "ok": true}',
    ],
)
def test_json_decode_matches_python(doc):
    assert lua("json", doc).decode("utf-8") == canon(json.loads(doc))


@pytest.mark.parametrize(
    "doc",
    ['{"a": 1', '{"a" 1}', "[1, 2,]", '"unterminated', '{"a": tru}', "[1] x", r'"\ud800"', ""],
)
def test_json_decode_rejects_malformed_input(doc):
    assert lua("json", doc).startswith(b"ERROR json:")


def test_tags_for_an_info_answer():
    info = {
        "body": {"make": "NIKON", "model": "D80|evil", "serial": "3012345"},
        "defects": [{"kind": "hot"}] * 3 + [{"kind": "dead"}],
    }
    tags = lua("tags", json.dumps(info)).decode("utf-8").splitlines()
    assert tags == [
        "hotwatch|body|NIKON D80 evil 3012345",
        "hotwatch|hot pixels|3",
        "hotwatch|dead pixels|1",
    ]


def test_size_mismatch_refuses_only_a_real_disagreement():
    assert lua("size", "336 248").decode() == "nil"
    assert lua("size", "0 0").decode() == "nil"  # not loaded yet: nothing to compare
    assert lua("size", "320 240").decode() == (
        "darktable sees 320x240, hotwatch mapped its defects to 336x248"
    )


def test_write_sidecar_setting_and_api_check():
    assert lua("rc", "a=1\nwrite_sidecar_files=never\nb=2\n") == b"never"
    assert lua("rc", "write_sidecar_files=after edit\n") == b"after edit"
    assert lua("rc", "") == b"on import"
    answers = lua("api", "9.0.0 9.0.0\n8.9.9 9.0.0\n9.4.0 9.0.0\n10.0 9.0.0\n9 9.0.1\n")
    assert answers.decode().split() == ["true", "false", "true", "true", "false"]


def test_features_follow_the_api_version():
    """What the script uses is decided from the API version, never by probing a field:
    apply_sidecar from 9.5.0 (darktable 5.2), p_width/final_width from 9.1.0 (4.4),
    darktable.metadata.exists from 9.7.0 (5.6)."""
    out = lua("features", "9.0.0 9.1.0 9.4.0 9.5.0 9.6.0 9.7.0 10.0.0").decode().splitlines()
    assert out == [
        "9.0.0 false false false",
        "9.1.0 false true false",
        "9.4.0 false true false",
        "9.5.0 true true false",
        "9.6.0 true true false",
        "9.7.0 true true true",
        "10.0.0 true true true",
    ]


def test_the_script_reads_only_fields_its_api_has():
    """Reading a field an image lacks raises an error, and in Lua API 9.7.0 reading an
    undefined metadata field is fatal: the script reads no metadata field, and the image
    fields it reads exist in API 9.0.0, apply_sidecar aside (9.5.0, used only when
    ``features`` says so). Every image variable in the script is called image, v, new
    or other."""
    text = SCRIPT.read_text(encoding="utf-8")
    used = set(re.findall(r"(?<![.\w])(?:image|v|new|other)[.:]([a-z_]+)", text))
    api_9_0 = {"path", "filename", "sidecar", "width", "height", "get_tags", "attach_tag",
               "detach_tag", "delete"}  # fmt: skip
    assert used - api_9_0 == {"apply_sidecar"}, used - api_9_0
    assert "FEATURES.apply_sidecar then return heal_by_apply" in text
    assert "pcall(function() return" not in text  # no probing


def test_staged_heal_command_and_answer():
    cmd = lua("staged_command", "/p/it's.jpg").decode()
    assert cmd == "'hotwatch' darktable 'heal' '/p/it'\\''s.jpg' --json '--staged' 2>&1"
    answer = {
        "sidecars": [
            {"path": "/p/a.jpg.xmp", "status": "healed", "staged": "/p/a.jpg.xmp.hotwatch-staged"},
            {"path": "/p/a_01.jpg.xmp", "status": "unchanged"},
        ]
    }
    assert lua("staged", json.dumps(answer)).decode() == "a.jpg.xmp=/p/a.jpg.xmp.hotwatch-staged"


@pytest.mark.parametrize(
    ("text", "tags", "found"),
    [
        ("<rdf:li>hotwatch|healed</rdf:li><rdf:li>a|b &amp; c</rdf:li>", ["a|b & c"], True),
        ("<rdf:li>hotwatch|healed</rdf:li>", ["hotwatch|healed", "hotwatch|body|X"], False),
        ("<rdf:li>hotwatch|hot pixels|12</rdf:li>", ["hotwatch|hot pixels|1"], False),
        (None, ["x"], False),
    ],
)
def test_sidecar_has_tags(text, tags, found):
    """darktable has written the tags the script attached: each one is an element's text."""
    doc = json.dumps({"text": text, "tags": tags})
    assert lua("hastags", doc).decode() == str(found).lower()
