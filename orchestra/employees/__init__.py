"""Employee adapters: how the core reaches a model or a command-line agent."""
