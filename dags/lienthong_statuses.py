"""lienthong_statuses: status packages from the hub → the legacy system's report-state operation → ack.

Wiring only; every task is in gateway.airflow.tasks. A status is acknowledged to the hub only
after the legacy system took it.
"""

from datetime import timedelta

from airflow.sdk import dag

from gateway.airflow import tasks
from gateway.airflow.defaults import DAG_KWARGS, statuses_params


@dag(dag_id="lienthong_statuses", schedule=timedelta(minutes=5), params=statuses_params(),
     doc_md=__doc__, **DAG_KWARGS)
def lienthong_statuses() -> None:
    chunks = tasks.list_received(messagetype="status")
    received = tasks.receive.partial(messagetype="status").expand(chunk=chunks)
    reported = tasks.deliver_to_legacy.partial(messagetype="status").expand(batch=received)
    acknowledged = tasks.acknowledge_statuses.expand(batch=reported)
    tasks.summarize(received, reported, acknowledged)


lienthong_statuses()
