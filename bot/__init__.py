"""Touchpoint's service: the Rasa assistant's files and the app around it (gateway, API, CLI)."""
