"""The console's screens, one per file; `base.ConsoleScreen` is what they share."""
