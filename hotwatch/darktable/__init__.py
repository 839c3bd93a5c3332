"""The darktable bridge: the pipe order and binary parameters of darktable 4.2, sidecar
(XMP) patching, where a defect is healed from, the bridge the Lua script calls, and
installing that script (``hotwatch.lua``, shipped as package data). Imports the core, io and
state."""
