"""The console's words in Vietnamese (the default) and English, and the Vietnamese date convention.

Templates call ``t("key")``; an unknown key shows itself (so a missing translation is visible,
never an error). Dates are shown ``dd/MM/yyyy HH:mm`` in Vietnam time (UTC+7, no daylight
saving): the ledger keeps naive UTC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

VIETNAM = timezone(timedelta(hours=7))
LANGUAGES = ("vi", "en")
DEFAULT_LANGUAGE = "vi"

_WORDS: dict[str, tuple[str, str]] = {
    # key: (vi, en)
    "app": ("Bảng điều khiển liên thông", "lienthong operator console"),
    "overview": ("Tổng quan", "Overview"),
    "documents": ("Văn bản", "Documents"),
    "failures": ("Lỗi và thư chết", "Dead letters and failures"),
    "adapters": ("Bộ chuyển đổi", "Adapters"),
    "systems": ("Hệ thống kết nối", "Systems"),
    "logout": ("Đăng xuất", "Log out"),
    "login": ("Đăng nhập", "Log in"),
    "login_title": ("Đăng nhập bằng khóa vận hành", "Log in with an operator key"),
    "operator_key": ("Khóa vận hành", "Operator key"),
    "login_help": (
        "Khóa tạo bằng lệnh «lienthong operators add TÊN».",
        "Keys are created with «lienthong operators add NAME».",
    ),
    "login_failed": ("Khóa không hợp lệ hoặc đã bị thu hồi.", "Unknown or revoked key."),
    "login_throttled": ("Quá nhiều lần thử, hãy đợi một phút.", "Too many attempts; wait a minute."),
    "signed_in_as": ("Người vận hành", "Operator"),
    "language": ("Ngôn ngữ", "Language"),
    "today": ("Hôm nay", "Today"),
    "by_state": ("Theo trạng thái", "By state"),
    "by_agency": ("Theo cơ quan gửi", "By sending agency"),
    "latency": ("Thời gian chuyển", "Delivery latency"),
    "latency_help": ("trên {n} lần chuyển gần nhất", "over the last {n} deliveries"),
    "failures_by_reason": ("Lỗi theo nguyên nhân", "Failures by reason"),
    "dead_letters": ("Thư chết (DEAD)", "Dead letters (DEAD)"),
    "refused": ("Bị từ chối", "Refused"),
    "refused_requests": ("Yêu cầu bị từ chối", "Refused requests"),
    "refused_help": (
        "Lần chuyển bị bên nhận từ chối (sổ cái).",
        "Deliveries refused by the receiving side (from the ledger).",
    ),
    "hub_refused": ("Yêu cầu hub từ chối, theo hệ thống", "Requests this hub refused, by system"),
    "hub_refused_help": (
        "Yêu cầu của các hệ thống kết nối bị hub từ chối (chữ ký, thời gian, người nhận…); cũng có trong /metrics.",
        "Requests from connected systems this hub refused (signature, timestamp, recipients…); also in /metrics.",
    ),
    "system": ("Hệ thống", "System"),
    "last_time": ("Lần cuối", "Last"),
    "certificates": ("Hạn chứng thư số", "Certificate expiry"),
    "no_profiles": (
        "Chưa cấu hình tệp hồ sơ ký (console.signing_profiles hoặc LIENTHONG_SIGNING_PROFILES).",
        "No signing profiles file configured (console.signing_profiles or LIENTHONG_SIGNING_PROFILES).",
    ),
    "system_credentials": (
        "Hệ thống kết nối xác thực bằng khóa bí mật HMAC: không có hạn lưu trong sổ cái.",
        "Connected systems authenticate with HMAC secrets: no expiry is recorded in the ledger.",
    ),
    "expires": ("Hết hạn", "Expires"),
    "days_left": ("Còn (ngày)", "Days left"),
    "airflow": ("Luồng trao đổi (Airflow)", "Exchange DAGs (Airflow)"),
    "airflow_not_configured": (
        "Airflow chưa được cấu hình (console.airflow_url).",
        "Airflow is not configured (console.airflow_url).",
    ),
    "airflow_error": ("Không đọc được Airflow", "Cannot read Airflow"),
    "last_run": ("Lần chạy gần nhất", "Last run"),
    "dag": ("DAG", "DAG"),
    "search": ("Tìm", "Search"),
    "number": ("Số, ký hiệu", "Number/notation"),
    "document_id": ("Mã văn bản (DocumentId)", "DocumentId"),
    "subject": ("Trích yếu", "Subject"),
    "sender": ("Nơi gửi", "Sender"),
    "recipient": ("Nơi nhận", "Recipient"),
    "state": ("Trạng thái", "State"),
    "from_date": ("Từ ngày", "From"),
    "to_date": ("Đến ngày", "To"),
    "type": ("Loại", "Type"),
    "any": ("Tất cả", "Any"),
    "created": ("Thời điểm nhận", "Received"),
    "route": ("Tuyến", "Route"),
    "next_page": ("Trang sau →", "Next page →"),
    "first_page": ("← Trang đầu", "← First page"),
    "no_results": ("Không có kết quả.", "Nothing found."),
    "journey": ("Hành trình văn bản", "Document journey"),
    "deliveries": ("Các tuyến chuyển", "Deliveries"),
    "attempts": ("Lần chuyển", "Delivery attempts"),
    "outcome": ("Kết quả", "Outcome"),
    "remote_answer": ("Trả lời của bên nhận", "Remote answer"),
    "state_changes": ("Thay đổi trạng thái", "State changes"),
    "statuses": ("Gói tin trạng thái", "Status packages"),
    "business_ops": ("Nghiệp vụ (cập nhật, thay thế, thu hồi)", "Business operations (update, replace, revoke)"),
    "none_recorded": ("Chưa có.", "None recorded."),
    "signatures": ("Kiểm tra chữ ký số", "Signature verification"),
    "no_trust": (
        "Không có cấu hình tin cậy (console.signing_profiles): chưa thể kiểm tra chữ ký.",
        "No trust configuration (console.signing_profiles): signatures cannot be checked.",
    ),
    "no_pdf": ("Không có tệp PDF đính kèm.", "No PDF attachment."),
    "package_missing": ("Không tìm thấy gói tin trong kho lưu trữ.", "The package is not in the blob store."),
    "valid": ("hợp lệ", "valid"),
    "invalid": ("không hợp lệ", "invalid"),
    "audit": ("Nhật ký kiểm toán (chuỗi băm)", "Audit trail (hash chain)"),
    "audit_ok": ("băm đúng", "hash ok"),
    "audit_bad": ("BĂM SAI", "HASH MISMATCH"),
    "linked": ("nối với", "linked to"),
    "downloads": ("Tải về", "Downloads"),
    "edxml_package": ("Gói tin edXML", "edXML package"),
    "retry": ("Gửi lại", "Retry"),
    "reason": ("Lý do", "Reason"),
    "reason_required": ("Cần ghi lý do (ít nhất 3 ký tự).", "A reason is required (at least 3 characters)."),
    "not_retryable": ("Chỉ gửi lại được thư FAILED hoặc DEAD.", "Only FAILED or DEAD messages can be retried."),
    "retry_failed": ("Không gửi lại được (xem nhật ký hub).", "The retry failed (see the hub log)."),
    "retried": ("Đã đưa lại vào hàng đợi.", "Re-queued."),
    "last_error": ("Lỗi gần nhất", "Last error"),
    "destination": ("Nơi đến", "Destination"),
    "version": ("Phiên bản", "Version"),
    "directions": ("Chiều", "Directions"),
    "transport": ("Giao thức", "Transport"),
    "contract": ("Bộ kiểm thử hợp đồng", "Contract kit"),
    "not_run": ("chưa chạy", "not run"),
    "run_contract": ("Chạy kiểm thử", "Run the contract kit"),
    "translate": ("Chuyển đổi thử", "Try a translation"),
    "translate_help": ("Dán tài liệu của hệ thống cũ (tối đa {n} KB).", "Paste a legacy document (up to {n} KB)."),
    "adapter": ("Bộ chuyển đổi", "Adapter"),
    "legacy_document": ("Tài liệu hệ thống cũ", "Legacy document"),
    "result": ("Kết quả", "Result"),
    "errors": ("Lỗi", "Errors"),
    "line": ("Dòng", "Line"),
    "path": ("Đường dẫn", "Path"),
    "too_large": ("Tài liệu quá lớn.", "The document is too large."),
    "problem": ("Vấn đề", "Problem"),
    "organ_ids": ("Mã định danh cơ quan", "Organisation ids"),
    "kind": ("Loại", "Kind"),
    "name": ("Tên", "Name"),
    "active": ("Hoạt động", "Active"),
    "last_seen": ("Lần gửi gần nhất", "Last seen"),
    "submissions": ("Gói đã gửi", "Packages sent"),
    "inbox": ("Chờ nhận", "Waiting in inbox"),
    "forbidden": ("Yêu cầu bị từ chối (thiếu mã CSRF).", "Request refused (missing CSRF token)."),
    "not_found": ("Không tìm thấy.", "Not found."),
    "yes": ("có", "yes"),
    "no": ("không", "no"),
    "at": ("Lúc", "At"),
    "actor": ("Tác nhân", "Actor"),
    "event": ("Sự kiện", "Event"),
    "detail": ("Chi tiết", "Detail"),
    "from_organ": ("Cơ quan gửi", "Sent by"),
    "event_time": ("Thời điểm (gói tin)", "Time (in package)"),
    "received_at": ("Hub nhận lúc", "Received by the hub"),
    "count": ("Số lượng", "Count"),
    "p50": ("Trung vị", "Median"),
    "p95": ("P95", "P95"),
    "max": ("Lớn nhất", "Max"),
    "signer": ("Người ký", "Signer"),
    "role": ("Vai trò", "Role"),
    "reasons": ("Lý do", "Reasons"),
    "this_package": ("Gói tin này", "This package"),
    "business_type": ("Loại nghiệp vụ", "Business type"),
    "target": ("Văn bản liên quan", "Target document"),
    "shown_first": ("Hiển thị {n} mục đầu.", "Showing the first {n}."),
}

STATUS_LABELS: dict[str, tuple[str, str]] = {
    "01": ("Đã đến", "Received"),
    "02": ("Từ chối tiếp nhận", "Refused"),
    "03": ("Đã tiếp nhận", "Accepted"),
    "04": ("Phân công", "Assigned"),
    "05": ("Đang xử lý", "Processing"),
    "06": ("Hoàn thành", "Finished"),
    "13": ("Lấy lại", "Withdrawal requested"),
    "15": ("Đồng ý cập nhật/lấy lại", "Change accepted"),
    "16": ("Từ chối cập nhật/lấy lại", "Change refused"),
}


def translator(lang: str) -> Translator:
    return Translator(lang if lang in LANGUAGES else DEFAULT_LANGUAGE)


class Translator:
    """``t("key", n=3)``: the word in this language, with ``{n}``-style values filled in."""

    def __init__(self, lang: str):
        self.lang = lang
        self._i = LANGUAGES.index(lang)

    def __call__(self, key: str, **values: object) -> str:
        pair = _WORDS.get(key)
        text = pair[self._i] if pair else key
        return text.format(**values) if values else text

    def status(self, code: str | None) -> str:
        pair = STATUS_LABELS.get(code or "")
        return pair[self._i] if pair else ""


def vn_datetime(value: datetime | None) -> str:
    """Ledger naive UTC → ``dd/MM/yyyy HH:mm`` in Vietnam time."""
    if value is None:
        return ""
    aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value
    return aware.astimezone(VIETNAM).strftime("%d/%m/%Y %H:%M")


def vn_day_start_utc(day: date) -> datetime:
    """Midnight of ``day`` in Vietnam, as the ledger's naive UTC."""
    return datetime(day.year, day.month, day.day, tzinfo=VIETNAM).astimezone(UTC).replace(tzinfo=None)


def vn_today() -> date:
    return datetime.now(VIETNAM).date()


__all__ = ["DEFAULT_LANGUAGE", "LANGUAGES", "VIETNAM", "Translator", "translator", "vn_datetime", "vn_day_start_utc"]
