"""lienthong: an interoperability gateway for Vietnamese e-government (edXML, axis, Decree 30)."""

__version__ = "0.1.0"
