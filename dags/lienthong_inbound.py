"""lienthong_inbound: hub → stored package → signature report → adapter → legacy system → status 01.

Wiring only; every task is in gateway.airflow.tasks. Documents are acknowledged to the hub as soon
as they are stored; invalid signatures are flagged (or rejected with status 02 when the
``reject_invalid_signatures`` param or Variable says so).
"""

from datetime import timedelta

from airflow.sdk import dag

from gateway.airflow import tasks
from gateway.airflow.defaults import DAG_KWARGS, inbound_params


@dag(dag_id="lienthong_inbound", schedule=timedelta(minutes=5), params=inbound_params(),
     doc_md=__doc__, **DAG_KWARGS)
def lienthong_inbound() -> None:
    chunks = tasks.list_received(messagetype="edoc")
    received = tasks.receive.partial(messagetype="edoc").expand(chunk=chunks)
    verified = tasks.verify_signatures.expand(batch=received)
    handed_over = tasks.deliver_to_legacy.partial(messagetype="edoc").expand(batch=verified)
    answered = tasks.send_status.expand(batch=handed_over)
    tasks.summarize(received, verified, handed_over, answered)


lienthong_inbound()
