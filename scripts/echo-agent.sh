#!/bin/sh
# A stand-in command-line employee for trying Aura end to end: it answers with the prompt it
# was given (the file named by {prompt_file}) and changes no files. Hire a real coding agent
# for real work (presets for Claude Code, Codex, aider… are a later issue).
printf 'echo-agent received:\n'
cat "$1"
