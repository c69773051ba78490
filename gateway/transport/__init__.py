"""Transports: how the gateway talks to other systems (legacy SOAP, file drops, the axis); one error boundary each."""
