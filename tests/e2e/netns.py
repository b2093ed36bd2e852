"""Network namespaces joined to this host by a veth pair each, so processes run as if on
several hosts: each namespace sees only its own loopback and a /30 link to the host, and
reaches the host's services at the link's host-side address.

Names and subnets are unique per test run; `remove` (deleting the namespace deletes its veth
pair too) runs in teardown whatever happened.
"""

from __future__ import annotations

import ipaddress
import os
import random
import shutil
import subprocess
import uuid
from dataclasses import dataclass

SUBNET_POOL = ipaddress.ip_network("10.231.0.0/16")


def available() -> str | None:
    """Why network namespaces cannot be made here, or None when they can."""
    if shutil.which("ip") is None:
        return "iproute2 (`ip`) is not installed"
    if os.geteuid() != 0:
        return "making network namespaces needs root"
    return None


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)} failed: {done.stderr.strip()}")


def _taken_subnets() -> set[ipaddress.IPv4Network]:
    out = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True,
                         check=True).stdout
    return {ipaddress.ip_interface(line.split()[3]).network for line in out.splitlines()}


@dataclass(frozen=True)
class Host:
    """One namespace: `address` is its own end of the link, `gateway` the host's end."""

    name: str
    veth: str
    address: str
    gateway: str

    def set_link(self, up: bool) -> None:
        """Bring the host's end of the link up or down: down is a network partition, packets
        lost without a refusal."""
        _ip("link", "set", self.veth, "up" if up else "down")

    def command(self, argv: list[str]) -> list[str]:
        """`argv` run inside this namespace (`ip netns exec` execs it: same pid)."""
        return ["ip", "netns", "exec", self.name, *argv]


def make_hosts(count: int) -> list[Host]:
    """`count` namespaces, each linked to this host; on any failure the made ones are removed."""
    run = uuid.uuid4().hex[:6]
    taken = _taken_subnets()
    free = [n for n in SUBNET_POOL.subnets(new_prefix=30) if n not in taken]
    subnets = random.sample(free[:4096], count)
    hosts: list[Host] = []
    try:
        for i, subnet in enumerate(subnets):
            gateway, address = (str(a) for a in list(subnet.hosts())[:2])
            host = Host(f"aura-{run}-{i}", f"aura{run}h{i}", address, gateway)
            _ip("netns", "add", host.name)
            hosts.append(host)
            peer = f"aura{run}n{i}"
            _ip("link", "add", host.veth, "type", "veth", "peer", "name", peer)
            _ip("link", "set", peer, "netns", host.name)
            _ip("addr", "add", f"{gateway}/30", "dev", host.veth)
            _ip("link", "set", host.veth, "up")
            inside = ["netns", "exec", host.name, "ip"]
            _ip(*inside, "addr", "add", f"{address}/30", "dev", peer)
            _ip(*inside, "link", "set", peer, "up")
            _ip(*inside, "link", "set", "lo", "up")
    except BaseException:
        remove(hosts)
        raise
    return hosts


def remove(hosts: list[Host]) -> None:
    for host in hosts:
        subprocess.run(["ip", "netns", "del", host.name], capture_output=True, check=False)
        # Normally gone with its peer; a failure half-way may leave the host end alone.
        subprocess.run(["ip", "link", "del", host.veth], capture_output=True, check=False)
