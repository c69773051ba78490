"""Organisation lookups backed by the axis agency directory.

:class:`DirectoryOrganLookup` answers the adapters' :class:`~gateway.adapters.converters.OrganLookup`
question ("which organ id is this legacy name or code?") from :class:`gateway.edxml.directory.Directory`:
a code (current or old) resolves directly; a name resolves only when exactly one agency bears it
(accents and case ignored), because guessing between two similarly named bodies would misroute
official documents.
"""

from __future__ import annotations

from gateway.edxml.directory import Directory, fold


class DirectoryOrganLookup:
    """Legacy name/code → organ id through the agency directory (exact matches only)."""

    def __init__(self, directory: Directory, *, prefer_old_codes: bool = False):
        self.directory = directory
        self.prefer_old_codes = prefer_old_codes  # QCVN 102 code rather than the QĐ 20 code

    def _code(self, code: str, old: str | None) -> str:
        return old if self.prefer_old_codes and old else code

    def lookup(self, legacy: str) -> str | None:
        text = legacy.strip()
        if not text:
            return None
        agency = self.directory.resolve(text)
        if agency is not None:
            return self._code(agency.code, agency.old_code)
        wanted = fold(text)
        exact = [a for a in self.directory.search(text, limit=5) if fold(a.name) == wanted]
        if len(exact) == 1:
            return self._code(exact[0].code, exact[0].old_code)
        return None

    def legacy_of(self, organ_id: str) -> str | None:
        return None  # legacy systems keep their own codes; the adapter's [organs] table maps back


__all__ = ["DirectoryOrganLookup"]
