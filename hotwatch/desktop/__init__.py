"""The desktop: the tray (its pystray face, its menu model, its announcement policy), its
autostart entry, and the systemd user service. Imports state and outputs (and the core)."""
