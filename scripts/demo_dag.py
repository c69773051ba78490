"""The demo's exchange through the real outbound DAG: ``dag.test()`` of ``lienthong_outbound_qlvb_soap``.

Usage: python scripts/demo_dag.py EXCHANGE_DIR HUB_URL SYSTEM_ID SECRET
It plays the legacy QLVB system with the simulator (gateway.legacy_sim) on 127.0.0.1, queues the
demo's export (``EXCHANGE_DIR/legacy/*.xml``) plus one document with an agency code nobody knows,
and runs the DAG in this process on a fresh SQLite Airflow home (no scheduler, no services):
list → fetch → stamp (agency seal) → send to the hub → acknowledge → summarize. The run
tolerates one failed document (``max_failed_documents = 1``), so it is green and its summary
names the failed one, exactly as the run note does in a deployment. Exit status 1 if the run failed.
The same flows run without Airflow with ``lienthong exchange outbound`` (docs/airflow.md).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DAG_ID = "lienthong_outbound_qlvb_soap"


def _environment(x: Path, hub_url: str, system_id: str, secret: str) -> Path:
    """Airflow's configuration (read once, at its first import) and the exchange config of the demo."""
    home = x / "airflow"
    home.mkdir(parents=True, exist_ok=True)
    config = x / "exchanges.toml"
    config.write_text('[defaults]\nschedule = ""\n\n[[exchange]]\nadapter = "qlvb_soap"\n'
                      'agency = "000.00.00.H41"\nlegacy_conn_id = "lienthong_legacy"\n'
                      'signing_profile = "ubnd-thu-nghiem"\nflows = ["outbound"]\nmax_failed_documents = 1\n',
                      encoding="utf-8")
    host, port = hub_url.removeprefix("http://").split(":")
    os.environ.update({
        "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"), "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "ERROR", "LIENTHONG_EXCHANGES": str(config),
        "LIENTHONG_LEASE_DATABASE_URL": f"sqlite:///{x / 'leases.db'}",
        "AIRFLOW_CONN_LIENTHONG_HUB": json.dumps({"conn_type": "http", "host": host, "port": int(port),
                                                 "login": system_id, "password": secret}),
    })
    return config


def main() -> int:
    x, hub_url, system_id, secret = Path(sys.argv[1]).resolve(), sys.argv[2], sys.argv[3], sys.argv[4]
    _environment(x, hub_url, system_id, secret)
    from gateway.legacy_sim import QlvbSimulator

    with QlvbSimulator() as legacy:
        for path in sorted((x / "legacy").glob("*.xml")):
            data = path.read_bytes()
            legacy.queue(data)
            unknown = data.replace(b"<MaCoQuan>UBND-NA</MaCoQuan>", b"<MaCoQuan>KHONG-RO</MaCoQuan>")
            legacy.queue(unknown.replace(b"<MaVanBan>QLVB-", b"<MaVanBan>LOI-"))
        os.environ["AIRFLOW_CONN_LIENTHONG_LEGACY"] = legacy.endpoint
        from airflow.dag_processing.dagbag import DagBag
        from airflow.utils import db

        db.resetdb()
        dag = DagBag(dag_folder=str(ROOT / "dags")).get_dag(DAG_ID)
        work = x / "work"
        stages = "list_documents → fetch_translate[] → stamp[] → deliver[] → acknowledge[] → summarize"
        print(f"dag.test() {DAG_ID}: {stages}", flush=True)
        run = dag.test(run_conf={"work_dir": str(work),
                                 "signing_profiles": str(ROOT / "certs.example" / "profiles.toml")})
        states = sorted({f"{ti.task_id}: {ti.state}" for ti in run.get_task_instances()})
        print("task instances: " + ", ".join(states))
        print(f"acknowledged by the legacy system: {', '.join(sorted(legacy.acknowledged)) or 'none'}")
    from gateway.exchange import safe_name

    summary = work / "reports" / DAG_ID / safe_name(run.run_id) / "summary.md"
    print(f"\nrun {run.run_id}: {run.state}; its summary ({summary.relative_to(x)}), also the run note:\n")
    print(summary.read_text(encoding="utf-8"))
    return 0 if run.state == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
