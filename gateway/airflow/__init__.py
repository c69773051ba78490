"""Airflow 3 integration: the hook that owns the IO (:mod:`.hook`), the tasks the DAG files wire
(:mod:`.tasks`) and the DAG defaults (:mod:`.defaults`). Only this package imports Airflow."""

from gateway.airflow.hook import ExchangeSettings, LienthongHook

__all__ = ["ExchangeSettings", "LienthongHook"]
