"""The Textual console (a later issue). It will talk only to the HTTP API."""
