"""The darktable bridge: the pipe orders (4.2's and 5.x's) and binary parameters of
darktable 4.2, which 5.x reads and writes back in its own form, sidecar (XMP) patching,
where a defect is healed from, the bridge the Lua script calls, and installing that script
(``hotwatch.lua``, shipped as package data). Imports the core, io and state."""
