"""The domain core of Aura Orchestra: jobs, the queue, the pool, employees and sandboxes.

Nothing in here knows about MCP, HTTP or Textual; governance plugs in through `orchestra.hooks`.
"""
