"""The exchange DAGs: one per adapter, legacy connection and flow (outbound, inbound, statuses).

Wiring only: the list comes from the adapter manifests and dags/exchanges.toml
(gateway.airflow.specs), the tasks from gateway.airflow.tasks. Add notifiers here, e.g.
``build_dags(notifiers=[SmtpNotifier(...)])``.
"""

from gateway.airflow.factory import build_dags

globals().update(build_dags())
