"""A simulated legacy QLVB system (a real HTTP SOAP server on 127.0.0.1) for tests and the demo."""

from gateway.legacy_sim.http import HttpReply, LocalHttpServer
from gateway.legacy_sim.qlvb import QlvbSimulator

__all__ = ["HttpReply", "LocalHttpServer", "QlvbSimulator"]
