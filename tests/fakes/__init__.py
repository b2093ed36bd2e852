"""Protocol-faithful fake provider servers that speak the real HTTP APIs on loopback."""
