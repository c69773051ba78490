"""lienthong_directory_sync: getAgenciesList + getSynchronizeUnit → the directory JSON, replaced atomically.

Wiring only; every task is in gateway.airflow.tasks.
"""

from airflow.sdk import dag

from gateway.airflow import tasks
from gateway.airflow.defaults import DAG_KWARGS, directory_params


@dag(dag_id="lienthong_directory_sync", schedule="@daily", params=directory_params(),
     doc_md=__doc__, **DAG_KWARGS)
def lienthong_directory_sync() -> None:
    tasks.publish_directory(tasks.fetch_agency_lists())


lienthong_directory_sync()
