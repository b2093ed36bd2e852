"""The loopback serving every fake shares; it lives in the package (`aura demo` serves a fake
too), and is re-exported here so the fakes and tests keep importing it from `tests.fakes`."""

from mcp_server.demo.loopback import (
    LoopbackFake,
    ServingThread,
    serve_in_thread,
    serve_until_signalled,
)

__all__ = ["LoopbackFake", "ServingThread", "serve_in_thread", "serve_until_signalled"]
