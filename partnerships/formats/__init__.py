"""Formats this app words otherwise than Django's locales (settings.FORMAT_MODULE_PATH)."""
