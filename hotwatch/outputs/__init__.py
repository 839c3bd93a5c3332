"""What hotwatch produces for people and other programs: defect maps for raw tools, desktop
notifications and the sensor health report. Imports the core, io, state, and from the
darktable layer only its heal-source choice (the report shows crops healed as the plugin
heals them)."""
