"""The fake Ollama server; it lives in the package (`aura demo` runs against it), and is
re-exported here so tests keep importing `tests.fakes.ollama_server` and running it as
`python -m tests.fakes.ollama_server`."""

import sys

from mcp_server.demo.fake_ollama import (
    FakeOllama,
    RecordedRequest,
    main,
    parse_keep_alive,
)

__all__ = ["FakeOllama", "RecordedRequest", "main", "parse_keep_alive"]

if __name__ == "__main__":
    sys.exit(main())
