"""`aura demo`: the sample project in `demo_default_project/` run end to end against the bundled
fake Ollama, and that fake (with the loopback serving all fakes share), which the tests use too."""
