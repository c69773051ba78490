#!/usr/bin/env bash
# The main job on the embedded default: validate and inspect the bundled sample packages.
set -euo pipefail
cd "$(dirname "$0")/.."
L=.venv/bin/lienthong
FIX=tests/fixtures/edxml

echo "== lienthong validate: every bundled sample (valid, vendor variants, refused inputs)"
$L validate $FIX/valid_*.edxml $FIX/variant_*.edxml || true
echo
echo "== lienthong validate: inputs that must be refused (exit status 1 expected)"
if $L validate $FIX/invalid_*.edxml; then echo "demo: refused inputs were accepted" >&2; exit 1; fi
echo
echo "== lienthong inspect: a document package and a status package"
$L inspect $FIX/valid_edoc_new.edxml
$L inspect $FIX/valid_status_03.edxml
echo
mkdir -p var/demo
echo "== lienthong extract: attachments of a package whose files arrived zipped"
$L extract --force $FIX/variant_zipped_attachments.edxml var/demo/attachments
