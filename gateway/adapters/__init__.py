"""The adapter framework: a legacy system is connected by writing a folder, not by changing ``gateway/``.

An adapter folder holds ``adapter.toml`` (see :mod:`.manifest`), the legacy XSD/WSDL, a
declarative ``mapping.toml`` (see :mod:`.mapping`), fixtures and a README.  The registry finds
folders under ``adapters/`` and in the ``lienthong.adapters`` entry-point group; the contract kit
(:mod:`.contract`) checks each one against its fixtures.
"""

from gateway.adapters.adapter import Adapter, LegacyOutput
from gateway.adapters.contract import ContractCheck, run_contract
from gateway.adapters.converters import ChainedOrganLookup, ConvertContext, DictOrganLookup, OrganLookup
from gateway.adapters.discovery import ENTRY_POINT_GROUP, AdapterRegistry, FoundAdapter, discover
from gateway.adapters.manifest import AdapterManifest, load_manifest
from gateway.adapters.report import DocumentError, DocumentResult, TranslationReport

__all__ = [
    "ENTRY_POINT_GROUP",
    "Adapter",
    "AdapterManifest",
    "AdapterRegistry",
    "ChainedOrganLookup",
    "ContractCheck",
    "ConvertContext",
    "DictOrganLookup",
    "DocumentError",
    "DocumentResult",
    "FoundAdapter",
    "LegacyOutput",
    "OrganLookup",
    "TranslationReport",
    "discover",
    "load_manifest",
    "run_contract",
]
