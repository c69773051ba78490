"""Attacked PDFs built by the tests themselves with pyHanko's incremental writer.

Each helper takes signed bytes and returns them with ONE incremental update appended, the way an
attacker (or a careless tool) would after signing: a new widget whose appearance covers the page
(shadow "hide" / "replace"), a filled text field, a free-text annotation, a swapped signature
appearance, a replaced page content stream. The helpers are deliberately low level (plain
dictionaries) so they do not depend on pyHanko's own notion of what a form update may do.
"""

from __future__ import annotations

import io

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

WHITE_BOX = b"1 1 1 rg 0 0 %d %d re f"
HELVETICA = generic.DictionaryObject(
    {
        generic.NameObject("/Type"): generic.NameObject("/Font"),
        generic.NameObject("/Subtype"): generic.NameObject("/Type1"),
        generic.NameObject("/BaseFont"): generic.NameObject("/Helvetica"),
    }
)


def _writer(data: bytes) -> IncrementalPdfFileWriter:
    return IncrementalPdfFileWriter(io.BytesIO(data), strict=False)


def _out(w: IncrementalPdfFileWriter) -> bytes:
    buf = io.BytesIO()
    w.write(buf)
    return buf.getvalue()


def appearance(w: IncrementalPdfFileWriter, width: float, height: float, ops: bytes) -> generic.IndirectObject:
    """A form XObject of the given size with Helvetica as /F1."""
    stream = generic.StreamObject(
        {
            generic.NameObject("/Type"): generic.NameObject("/XObject"),
            generic.NameObject("/Subtype"): generic.NameObject("/Form"),
            generic.NameObject("/BBox"): generic.ArrayObject(
                [generic.FloatObject(0), generic.FloatObject(0), generic.FloatObject(width), generic.FloatObject(height)]
            ),
            generic.NameObject("/Resources"): generic.DictionaryObject(
                {generic.NameObject("/Font"): generic.DictionaryObject({generic.NameObject("/F1"): HELVETICA})}
            ),
        },
        stream_data=ops,
    )
    return w.add_object(stream)


def cover_ops(width: float, height: float, text: str | None = None) -> bytes:
    """White box over the whole area, optionally with new black text: the shadow attack's paint."""
    ops = WHITE_BOX % (int(width), int(height))
    if text:
        ops += b" 0 g BT /F1 14 Tf 10 %d Td (%s) Tj ET" % (int(height / 2), text.encode("latin-1"))
    return ops


def _rect(rect: tuple[float, float, float, float]) -> generic.ArrayObject:
    return generic.ArrayObject([generic.FloatObject(v) for v in rect])


def _append_annot(w: IncrementalPdfFileWriter, page_index: int, annot_ref: generic.IndirectObject) -> None:
    page_ref = w.find_page_for_modification(page_index)[0]
    page = page_ref.get_object()
    old = page.get("/Annots")
    annots = generic.ArrayObject(list(old.get_object()) if old is not None else [])
    annots.append(annot_ref)
    page[generic.NameObject("/Annots")] = annots
    w.update_container(page)


def _append_field(w: IncrementalPdfFileWriter, field_ref: generic.IndirectObject) -> None:
    root = w.root
    form = root.get("/AcroForm")
    if form is None:
        form = generic.DictionaryObject({generic.NameObject("/Fields"): generic.ArrayObject()})
        root[generic.NameObject("/AcroForm")] = w.add_object(form)
        w.update_root()
        form = root["/AcroForm"]
    form = form.get_object()
    fields = generic.ArrayObject(list(form["/Fields"].get_object()))
    fields.append(field_ref)
    form[generic.NameObject("/Fields")] = fields
    w.update_container(form)


def add_widget_field(
    data: bytes,
    *,
    name: str,
    rect: tuple[float, float, float, float],
    ops: bytes,
    field_type: str = "/Sig",
    value: str | None = None,
    page: int = 0,
) -> bytes:
    """One update adding a form field whose widget draws ``ops`` in ``rect`` (shadow attack)."""
    w = _writer(data)
    width, height = rect[2] - rect[0], rect[3] - rect[1]
    page_ref = w.find_page_for_modification(page)[0]
    widget = generic.DictionaryObject(
        {
            generic.NameObject("/Type"): generic.NameObject("/Annot"),
            generic.NameObject("/Subtype"): generic.NameObject("/Widget"),
            generic.NameObject("/FT"): generic.NameObject(field_type),
            generic.NameObject("/T"): generic.TextStringObject(name),
            generic.NameObject("/Rect"): _rect(rect),
            generic.NameObject("/F"): generic.NumberObject(4),
            generic.NameObject("/P"): page_ref,
            generic.NameObject("/AP"): generic.DictionaryObject(
                {generic.NameObject("/N"): appearance(w, width, height, ops)}
            ),
        }
    )
    if value is not None:
        widget[generic.NameObject("/V")] = generic.TextStringObject(value)
    ref = w.add_object(widget)
    _append_annot(w, page, ref)
    _append_field(w, ref)
    return _out(w)


def add_text_field(data: bytes, *, name: str, rect: tuple[float, float, float, float]) -> bytes:
    """An empty text field with an empty appearance (a form to be filled later)."""
    return add_widget_field(data, name=name, rect=rect, ops=b"", field_type="/Tx")


def fill_text_field(data: bytes, *, name: str, value: str, ops: bytes) -> bytes:
    """One update filling the existing text field ``name`` with a value and a new appearance."""
    w = _writer(data)
    for ref in w.root["/AcroForm"]["/Fields"]:
        field = ref.get_object()
        if str(field.get("/T")) == name:
            rect = [float(v) for v in field["/Rect"]]
            field[generic.NameObject("/V")] = generic.TextStringObject(value)
            field[generic.NameObject("/AP")] = generic.DictionaryObject(
                {generic.NameObject("/N"): appearance(w, rect[2] - rect[0], rect[3] - rect[1], ops)}
            )
            w.update_container(field)
            return _out(w)
    raise KeyError(name)


def add_annotation(
    data: bytes, *, rect: tuple[float, float, float, float], ops: bytes, subtype: str = "/FreeText", page: int = 0
) -> bytes:
    """One update adding a (non-widget) annotation drawing ``ops`` in ``rect``."""
    w = _writer(data)
    annot = generic.DictionaryObject(
        {
            generic.NameObject("/Type"): generic.NameObject("/Annot"),
            generic.NameObject("/Subtype"): generic.NameObject(subtype),
            generic.NameObject("/Rect"): _rect(rect),
            generic.NameObject("/F"): generic.NumberObject(4),
            generic.NameObject("/Contents"): generic.TextStringObject("note"),
            generic.NameObject("/DA"): generic.TextStringObject("/Helv 12 Tf 0 g"),
            generic.NameObject("/AP"): generic.DictionaryObject(
                {generic.NameObject("/N"): appearance(w, rect[2] - rect[0], rect[3] - rect[1], ops)}
            ),
        }
    )
    _append_annot(w, page, w.add_object(annot))
    return _out(w)


def swap_signature_appearance(data: bytes, *, field_name: str, ops: bytes) -> bytes:
    """One update replacing the /AP of an already signed signature field's widget."""
    w = _writer(data)
    for ref in w.root["/AcroForm"]["/Fields"]:
        field = ref.get_object()
        if str(field.get("/T")) == field_name:
            rect = [float(v) for v in field["/Rect"]]
            field[generic.NameObject("/AP")] = generic.DictionaryObject(
                {generic.NameObject("/N"): appearance(w, rect[2] - rect[0], rect[3] - rect[1], ops)}
            )
            w.update_container(field)
            return _out(w)
    raise KeyError(field_name)


def replace_page_content(data: bytes, *, page: int = 0, ops: bytes) -> bytes:
    """One update pointing the page's /Contents at a brand-new stream (incremental page replacement)."""
    w = _writer(data)
    page_ref = w.find_page_for_modification(page)[0]
    page_obj = page_ref.get_object()
    new = w.add_object(generic.StreamObject(stream_data=ops))
    page_obj[generic.NameObject("/Contents")] = new
    fonts = generic.DictionaryObject({generic.NameObject("/F1"): HELVETICA})
    page_obj[generic.NameObject("/Resources")] = generic.DictionaryObject({generic.NameObject("/Font"): fonts})
    w.update_container(page_obj)
    return _out(w)


def add_ocg(data: bytes) -> bytes:
    """One update adding an optional content group configuration (can hide signed content)."""
    w = _writer(data)
    ocg = w.add_object(
        generic.DictionaryObject(
            {
                generic.NameObject("/Type"): generic.NameObject("/OCG"),
                generic.NameObject("/Name"): generic.TextStringObject("layer"),
            }
        )
    )
    w.root[generic.NameObject("/OCProperties")] = generic.DictionaryObject(
        {
            generic.NameObject("/OCGs"): generic.ArrayObject([ocg]),
            generic.NameObject("/D"): generic.DictionaryObject(
                {generic.NameObject("/OFF"): generic.ArrayObject([ocg])}
            ),
        }
    )
    w.update_root()
    return _out(w)
