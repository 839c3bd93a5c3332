-- luacheck configuration for the hotwatch darktable script
std = "lua54"
max_line_length = 110
-- "_" is the gettext wrapper, as in darktable-org/lua-scripts
ignore = { "212/_.*" }
