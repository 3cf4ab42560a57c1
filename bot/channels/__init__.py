"""Where end users chat: Telegram and the web widget, both in front of the same gateway."""
