"""An mbox mailbox becomes one document per message (each message's attachments read with it),
and the messages of a MIME digest or a forwarded message are read as part of the e-mail that
carries them, in Chinese and English."""

from __future__ import annotations

import io
from email.message import EmailMessage
from email.mime.message import MIMEMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

import docx

from core.settings import LimitsSettings
from ingest.archives import is_archive, unpack
from tests.ingest.helpers import parse_bytes


def _docx(text: str) -> bytes:
    document = docx.Document()
    document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _message(subject: str, body: str, attachment: tuple[str, bytes] | None = None) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = "a@example.com"
    message["To"] = "b@example.com"
    message["Date"] = "Mon, 4 Mar 2024 09:00:00 +0800"
    message.set_content(body)
    if attachment:
        name, data = attachment
        message.add_attachment(
            data,
            maintype="application",
            subtype="vnd.openxmlformats-officedocument.wordprocessingml.document",
            filename=name,
        )
    return message


def _mbox(messages: list[EmailMessage]) -> bytes:
    out = []
    for message in messages:
        raw = message.as_bytes().replace(b"\nFrom ", b"\n>From ")  # mboxrd quoting
        out.append(b"From a@example.com Mon Mar  4 09:00:00 2024\n" + raw + b"\n")
    return b"".join(out)


def test_each_message_of_a_mailbox_is_a_document_with_its_attachments() -> None:
    data = _mbox(
        [
            _message(
                "季度预算 Budget", "第二季度预算为一百二十万元。\nFrom now on, budgets are monthly."
            ),
            _message(
                "合同 Contract",
                "合同见附件。The contract is attached.",
                ("采购合同.docx", _docx("付款期限为验收后三十日内。")),
            ),
        ]
    )
    assert is_archive(data, "收件箱.mbox")
    got = unpack(data, "收件箱.mbox", LimitsSettings())
    assert [m.path for m in got.members] == ["0001 季度预算 Budget.eml", "0002 合同 Contract.eml"]
    first = parse_bytes(got.members[0].data, got.members[0].filename)
    text = "\n".join(e.text for e in first.elements)
    assert "第二季度预算为一百二十万元" in text
    assert "From now on, budgets are monthly." in text  # the mboxrd quoting undone
    second = parse_bytes(got.members[1].data, got.members[1].filename)
    attached = [
        e for e in second.elements if e.section_path[:1] == ("附件 Attachment: 采购合同.docx",)
    ]
    assert any("付款期限为验收后三十日内" in e.text for e in attached)


def test_a_mailbox_without_extension_is_recognised_by_its_first_lines() -> None:
    data = _mbox([_message("Hello", "Plain English body.")])
    assert is_archive(data, "Inbox")
    assert not is_archive(b"From the desk of the director: hello", "memo")
    assert not is_archive(data, "notes.txt")


def test_the_messages_of_a_digest_and_a_forwarded_message_are_read() -> None:
    digest = MIMEMultipart("digest")
    for subject, body in (
        ("周报 Weekly", "本周完成了数据迁移。"),
        ("Minutes", "The board met on Friday."),
    ):
        inner = MIMEText(body, "plain", "utf-8")
        inner["Subject"] = subject
        digest.attach(MIMEMessage(inner))
    outer = MIMEMultipart("mixed")
    outer["Subject"] = "邮件摘要 Digest"
    outer["From"] = "list@example.com"
    outer["To"] = "b@example.com"
    outer.attach(MIMEText("本期摘要共两封。This digest holds two messages.", "plain", "utf-8"))
    outer.attach(digest)
    forwarded = _message("转发 Fwd", "请审批。", ("审批单.docx", _docx("审批金额五万元。")))
    outer.attach(MIMEMessage(forwarded))
    parsed = parse_bytes(outer.as_bytes(), "digest.eml")
    sections = {e.section_path[0]: e.text for e in parsed.elements if e.section_path}
    text = "\n".join(e.text for e in parsed.elements)
    assert "本周完成了数据迁移" in text
    assert "The board met on Friday." in text
    assert "请审批" in text
    assert "审批金额五万元" in text  # the forwarded message's own attachment
    assert "附件 Attachment: 周报 Weekly.eml" in sections
