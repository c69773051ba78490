"""lienthong_outbound: legacy system → adapter → agency signature → hub → acknowledgement.

Wiring only; every task is in gateway.airflow.tasks. Work is chunked: one mapped task instance
per chunk of document names at every stage.
"""

from datetime import timedelta

from airflow.sdk import dag

from gateway.airflow import tasks
from gateway.airflow.defaults import DAG_KWARGS, outbound_params


@dag(dag_id="lienthong_outbound", schedule=timedelta(minutes=5), params=outbound_params(),
     doc_md=__doc__, **DAG_KWARGS)
def lienthong_outbound() -> None:
    chunks = tasks.outbound_list_pending()
    fetched = tasks.outbound_fetch_translate.expand(chunk=chunks)
    stamped = tasks.outbound_stamp.expand(batch=fetched)
    delivered = tasks.outbound_deliver.expand(batch=stamped)
    acknowledged = tasks.outbound_acknowledge.expand(batch=delivered)
    tasks.summarize(fetched, stamped, delivered, acknowledged)


lienthong_outbound()
