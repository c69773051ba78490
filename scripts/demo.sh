#!/usr/bin/env bash
# The main job on the embedded default (SQLite and files under var/demo, nothing else needed):
#   1. look at the bundled sample packages (validate, inspect, extract);
#   2. a full exchange between two hubs on 127.0.0.1 — the Nghệ An provincial hub and the national
#      hub — with a legacy QLVB document taken by the outbound Airflow DAG (dag.test(): translated,
#      stamped with the agency seal, sent; its run summary printed), routed upward, received and
#      verified by Văn phòng Chính phủ, and answered with status 03 that travels back.
set -euo pipefail
cd "$(dirname "$0")/.."
L="$PWD/.venv/bin/lienthong"
PY="$PWD/.venv/bin/python"
FIX=tests/fixtures/edxml
DEMO="${LIENTHONG_DEMO_DIR:-var/demo}"  # tests point this at a temporary folder
export LIENTHONG_SIGNING_PROFILES=certs.example/profiles.toml

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "1a. lienthong validate: the bundled samples (canonical packages and real-world vendor variants)"
$L validate $FIX/valid_*.edxml $FIX/variant_*.edxml
step "1b. lienthong validate: inputs that must be refused (exit status 1 expected)"
if $L validate $FIX/invalid_*.edxml; then echo "demo: refused inputs were accepted" >&2; exit 1; fi
step "1c. lienthong inspect: a document package and a status package"
$L inspect $FIX/valid_edoc_new.edxml
$L inspect $FIX/valid_status_03.edxml
step "1d. lienthong extract: the attachments of a package whose files arrived zipped"
$L extract --force $FIX/variant_zipped_attachments.edxml $DEMO/samples

# ---------------------------------------------------------------------------------------------
rm -rf "$DEMO/exchange" && mkdir -p "$DEMO/exchange"
X="$(cd "$DEMO/exchange" && pwd)"
free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
P_PROV=$(free_port); P_NAT=$(free_port)
S_QLVB=qlvb-nghean-demo-secret; S_VPCP=vpcp-demo-secret; S_UP=province-up-demo-secret; S_DOWN=national-down-demo-secret

cat > $X/agencies.json <<JSON
[
 {"id": 1, "pid": null, "code": "00.22.W00", "name": "Trục liên thông văn bản quốc gia", "centerCode": null, "isAgency": false},
 {"id": 2, "pid": null, "code": "02.41.W00", "name": "LGSP tỉnh Nghệ An", "centerCode": null, "isAgency": false},
 {"id": 10, "pid": null, "code": "000.00.00.G22", "name": "Văn phòng Chính phủ", "centerCode": "00.22.W00", "isAgency": true},
 {"id": 20, "pid": null, "code": "000.00.00.H41", "name": "UBND tỉnh Nghệ An", "centerCode": "02.41.W00", "isAgency": true}
]
JSON
mkdir -p $X/province $X/national
cat > $X/province/hub.toml <<TOML
node_id = "02.41.W00"
directory_file = "../agencies.json"
[upstream]
url = "http://127.0.0.1:$P_NAT"
system_id = "province-hub"
secret = "$S_UP"
code = "00.22.W00"
TOML
cat > $X/national/hub.toml <<TOML
node_id = "00.22.W00"
directory_file = "../agencies.json"
[[peers]]
url = "http://127.0.0.1:$P_PROV"
system_id = "national-hub"
secret = "$S_DOWN"
code = "02.41.W00"
serves = ["02.41.W00"]
TOML

step "2a. two hubs: register the connected systems (secrets are stored encrypted)"
$L systems add --data-dir $X/province qlvb-nghean --organ 000.00.00.H41 --name "QLVB UBND tỉnh Nghệ An" --secret $S_QLVB
$L systems add --data-dir $X/province national-hub --kind hub --organ '*' --name "Trục quốc gia" --secret $S_DOWN
$L systems add --data-dir $X/national vpcp-edoc --organ 000.00.00.G22 --name "Hệ thống QLVB VPCP" --secret $S_VPCP
$L systems add --data-dir $X/national province-hub --kind hub --organ '*' --name "LGSP Nghệ An" --secret $S_UP

step "2b. start both hubs on 127.0.0.1 (province :$P_PROV, national :$P_NAT)"
$L serve --data-dir $X/province --port $P_PROV > $X/province/serve.log 2>&1 &
PID_PROV=$!
$L serve --data-dir $X/national --port $P_NAT > $X/national/serve.log 2>&1 &
PID_NAT=$!
trap 'kill $PID_PROV $PID_NAT 2>/dev/null; wait 2>/dev/null || true' EXIT
for port in $P_PROV $P_NAT; do
  for _ in $(seq 1 100); do
    $PY -c "import httpx,sys; sys.exit(0 if httpx.get('http://127.0.0.1:$port/healthz').status_code==200 else 1)" 2>/dev/null && break
    sleep 0.2
  done
done
echo "both hubs healthy"

step "2c. the legacy system's export: a decision already signed by the leader (person signature)"
$PY scripts/demo_inputs.py $X/legacy
step "2d. the outbound DAG (Airflow dag.test(), no scheduler): translate, seal, send, acknowledge, summarize"
# lienthong_outbound_qlvb_soap pulls the export from the legacy system (the QLVB simulator on 127.0.0.1),
# translates it to edXML, puts the agency seal over the leader's signature and sends it to the provincial
# hub; a second document with an unknown agency code fails alone and is named in the run summary.
# Without Airflow the same flow is: lienthong exchange outbound (docs/airflow.md).
$PY scripts/demo_dag.py $X http://127.0.0.1:$P_PROV qlvb-nghean $S_QLVB

step "2g. lienthong receive: Văn phòng Chính phủ's system collects it from the national hub"
for _ in $(seq 1 50); do
  $L receive --url http://127.0.0.1:$P_NAT --system-id vpcp-edoc --secret $S_VPCP --out $X/vpcp-inbox || true
  ls $X/vpcp-inbox/*.edxml >/dev/null 2>&1 && break
  sleep 0.3
done
GOT=$(ls $X/vpcp-inbox/*.edxml | head -1)
$L inspect $GOT
step "2h. lienthong package verify: both signatures on the main document, the agency's on the appendix"
$L package verify $GOT
step "2i. lienthong translate --to-legacy: what a legacy QLVB recipient would import"
$L translate --quiet --to-legacy --adapter qlvb_soap $GOT $X/vpcp-legacy

step "2j. status 03 (Đã tiếp nhận) goes back: national hub -> provincial hub -> UBND Nghệ An"
$L package status $GOT --code 03 --staff "Trần Văn Nam" --department "Phòng Văn thư" -o $X/status-03.edxml
$L send --url http://127.0.0.1:$P_NAT --system-id vpcp-edoc --secret $S_VPCP --messagetype status $X/status-03.edxml
for _ in $(seq 1 50); do
  $L receive --url http://127.0.0.1:$P_PROV --system-id qlvb-nghean --secret $S_QLVB --messagetype status --out $X/qlvb-statuses || true
  ls $X/qlvb-statuses/*.edxml >/dev/null 2>&1 && break
  sleep 0.3
done
$L inspect $(ls $X/qlvb-statuses/*.edxml | head -1)

step "2k. the provincial hub's ledger: the document's timeline, and both audit chains"
$L messages list --data-dir $X/province
DOC_ID=$($L messages list --data-dir $X/province --json |
  $PY -c "import json,sys; print(next(m['docId'] for m in json.load(sys.stdin) if m['messageType']=='edoc'))")
$L messages show --data-dir $X/province "$DOC_ID"
$L audit verify --data-dir $X/province
$L audit verify --data-dir $X/national
step "done: everything the demo wrote is under $X"

step "3. the operator's console (docs/console.md): every document's journey on one page"
SERVE="${LIENTHONG_DEMO_SERVE:-0}"; [[ " $* " == *" --serve "* ]] && SERVE=1
K_PROV=$($L operators add --data-dir $X/province demo-operator | sed -n 's/^key (shown once.*): //p')
K_NAT=$($L operators add --data-dir $X/national demo-operator | sed -n 's/^key (shown once.*): //p')
echo "provincial hub console: http://127.0.0.1:$P_PROV/console/   operator key (throwaway demo key): $K_PROV"
echo "national hub console:   http://127.0.0.1:$P_NAT/console/   operator key (throwaway demo key): $K_NAT"
if [[ "$SERVE" == 1 ]]; then
  echo "hubs keep running for you to click through (log in with the key above); Ctrl-C stops them"
  wait $PID_PROV $PID_NAT
else
  echo "(run 'bash scripts/demo.sh --serve' or 'LIENTHONG_DEMO_SERVE=1 make demo' to keep the hubs running)"
fi
