"""A local stand-in for Pinterest's Conversions API, for tests, the demo and benchmarks.

``Sandbox`` serves the events route over real HTTP on loopback, ``SandboxClient`` drives
its admin API, and ``run_sandbox`` serves it from a command line until interrupted.
"""

from __future__ import annotations

from consumer.sandbox.admin import SandboxClient
from consumer.sandbox.server import Sandbox, run_sandbox

__all__ = ["Sandbox", "SandboxClient", "run_sandbox"]
