"""Why an upload's files were refused or failed before parsing proper, in Chinese: documents,
files, archives, and the names of a file's content (``CONTENT_TERMS``). Part of
``api.reasons_refusals.REFUSALS`` (kept in its place there: the first pattern that matches
wins); same form: an English pattern and its Chinese template."""

from __future__ import annotations

NUMBER = r"[\d,]+"  # a count as refusals write it: 1,234
_NUMBER = NUMBER

FILE_REFUSALS: list[tuple[str, str]] = [
    # Documents
    (
        r"only a failed document can be retried; this one is (?P<status>.+)",
        "只有处理失败的文档可以重试；此文档的状态是 {status}",
    ),
    (
        r"access must be JSON like .+",
        '访问权限须为如下格式的 JSON：{{"users": [...], "groups": [...], "everyone": false}}',
    ),
    (r"tags (?P<reason>.+)", "标签{reason}"),
    (r"search (?P<reason>.+)", "搜索词{reason}"),
    (r"q (?P<reason>.+)", "查询{reason}"),
    (
        rf"at most (?P<n>{_NUMBER}) tags of at most (?P<chars>{_NUMBER}) characters",
        "最多 {n} 个标签，每个最多 {chars} 个字符",
    ),
    (r"a folder, not a file name: (?P<name>.+)", "这是文件夹，不是文件名：{name}"),
    (r"unusable file name: (?P<name>.+)", "无法使用的文件名：{name}"),
    (
        rf"(?P<name>.+) is (?P<n>{_NUMBER}) bytes \(limit (?P<limit>{_NUMBER})\)",
        "{name} 有 {n} 字节（上限 {limit}）",
    ),
    (
        r"request body larger than the (?P<n>\d+) byte limit for this route",
        "请求体超过此接口 {n} 字节的上限",
    ),
    (
        r"the request body arrived too slowly \(under (?P<n>\d+) bytes a second\): send it"
        r" without pauses",
        "请求体传输过慢（每秒不足 {n} 字节）：请不间断地发送",
    ),
    (r"a part's headers exceed (?P<n>\d+) bytes", "表单某部分的头部超过 {n} 字节"),
    (r"at most (?P<n>\d+) form fields", "最多 {n} 个表单字段"),
    (r"a form field exceeds (?P<n>\d+) bytes", "某个表单字段超过 {n} 字节"),
    (r"the request could not be parsed", "无法解析该请求"),
    (
        r"another request changed the same records at the same time: try again",
        "另一个请求同时修改了相同的记录：请重试",
    ),
    (
        r"the request holds a value that cannot be stored: remove NUL and other control"
        r" characters",
        "请求中有无法存储的值：请去除 NUL 及其他控制字符",
    ),
    (
        r"this route reads a JSON body: send it with 'Content-Type: application/json'",
        "此接口读取 JSON 请求体：请以 'Content-Type: application/json' 发送",
    ),
    (
        r"this route reads a form: send it as multipart/form-data, each file a part with a"
        r" filename",
        "此接口读取表单：请以 multipart/form-data 发送，每个文件作为带文件名的一部分",
    ),
    (r"internal error", "服务器内部错误"),
    # Files refused or failed before parsing proper
    (
        r"(?P<name>.+?): the archive uses a zip feature that cannot be read",
        "{name}：该压缩包使用了无法读取的 zip 功能",
    ),
    (
        rf"the archive holds more than (?P<n>{_NUMBER}) files \(limit\)",
        "压缩包中的文件超过 {n} 个（上限）",
    ),
    (
        rf"the archive holds (?P<n>{_NUMBER}) members \(limit (?P<limit>{_NUMBER})\)",
        "压缩包中有 {n} 个条目（上限 {limit}）",
    ),
    (
        r"corrupt zip container: the file is damaged or incomplete \(it may be truncated\)",
        "zip 容器已损坏：文件已损坏或不完整（可能被截断）",
    ),
    (
        r"corrupt (?P<fmt>\S+) file: the file is damaged or incomplete"
        r" \(it may have been truncated\)",
        "{fmt} 文件已损坏或不完整（可能被截断）",
    ),
    # ``kind`` and ``content`` are ingest.formats' names for a file's content (CONTENT_TERMS).
    (r"not (?P<kind>.+?): the content is (?P<content>.+)", "不是{kind}：其内容是{content}"),
    (
        rf"the image has (?P<n>{_NUMBER}) pages \(limit (?P<limit>{_NUMBER})\)",
        "图片有 {n} 页（上限 {limit} 页）",
    ),
    (
        r"page (?P<page>\d+) of the image is (?P<w>\d+) × (?P<h>\d+) pixels: too large to"
        r" read \(scan it at a lower resolution\)",
        "图片第 {page} 页为 {w} × {h} 像素，过大无法读取（请以较低分辨率扫描）",
    ),
    (
        r"page (?P<page>\d+) is (?P<w>[\d.]+) × (?P<h>[\d.]+) inches: reading it with OCR"
        r" would render more than (?P<mp>[\d.]+) megapixels even at (?P<dpi>\d+) dpi",
        "第 {page} 页为 {w} × {h} 英寸：即使以 {dpi} dpi 进行 OCR 也会超过 {mp} 百万像素",
    ),
    (r"could not read the (?P<fmt>\S+) file", "无法读取该 {fmt} 文件"),
    (
        r"(?P<what>.+?) took longer than (?P<n>\d+) s: the file is too complex or damaged",
        "{what} 超过 {n} 秒：文件过于复杂或已损坏",
    ),
    (
        r"(?P<what>.+?) needed more than (?P<n>\d+) MiB of memory or crashed",
        "{what} 所需内存超过 {n} MiB 或已崩溃",
    ),
    (
        r"(?P<what>.+?) failed: the file is damaged or unsupported",
        "{what} 失败：文件已损坏或不受支持",
    ),
    (
        r"it starts with a (?P<enc>\S+) byte-order mark but is not valid \S+",
        "以 {enc} 字节顺序标记开头，但并非有效的 {enc} 文本",
    ),
    (
        r"(?P<name>.+?): the (?P<fmt>\S+) archive is"
        r" (?:encrypted \(password-protected\)|password-protected); remove the password",
        "{name}：该 {fmt} 压缩包已加密（受密码保护），请去除密码",
    ),
    # 7z/RAR unpacked in a limited child (ingest.archive_child)
    (
        r"unpacking (?P<name>.+?) took longer than (?P<n>\d+) s \(limit\)",
        "解压 {name} 的时间超过 {n} 秒（上限）",
    ),
    (
        r"unpacking (?P<name>.+?) crashed the unpacker or needed too much memory",
        "解压 {name} 时解压程序崩溃或所需内存过多",
    ),
    (
        r"the file needs more memory to unpack than the limit allows \(possibly an archive bomb\)",
        "解压该文件所需内存超过上限（可能是压缩炸弹）",
    ),
    (
        r"unpacking (?P<name>.+?) needed more memory than its limit \(possibly an archive bomb\)",
        "解压 {name} 所需内存超过上限（可能是压缩炸弹）",
    ),
    (
        r"(?P<name>.+?) is not a readable (?P<fmt>\S+) archive"
        r" \(damaged, incomplete or an unsupported variant\)",
        "{name} 不是可读的 {fmt} 压缩包（已损坏、不完整或为不支持的变体）",
    ),
    (
        r"unsupported zip container: the file needs a zip feature that cannot be read here"
        r" \(a newer zip version or an unusual compression\); save it again with a standard"
        r" program",
        "不支持的 zip 容器：该文件使用了此处无法读取的 zip 功能（较新的 zip 版本或不常见的"
        "压缩方式）；请用常规程序重新保存",
    ),
    (
        r"file name (?P<name>.+) must not contain path separators",
        "文件名 {name} 不能包含路径分隔符",
    ),
    (
        r"file name (?P<name>.+) must not contain control characters \(NUL, line breaks\)",
        "文件名 {name} 不能包含控制字符（如 NUL、换行符）",
    ),
    (
        r"a file name sent as filename\* must be percent-encoded UTF-8: (?P<example>\S+)",
        "以 filename* 发送的文件名须为百分号编码的 UTF-8：{example}",
    ),
    (
        r"form field (?P<name>.+) is not valid (?P<charset>\S+) text",
        "表单字段 {name} 不是有效的 {charset} 文本",
    ),
    (
        r"query parameter (?P<name>.+) is not valid (?P<charset>\S+) text",
        "查询参数 {name} 不是有效的 {charset} 文本",
    ),
    (
        r"form field (?P<name>.+) is not read here; send (?P<known>.+)",
        "此接口不读取表单字段 {name}；请发送 {known}",
    ),
    (r"form field (?P<name>.+) is sent more than once", "表单字段 {name} 发送了不止一次"),
    (
        r"query parameter (?P<name>.+) is not read here: this route reads none",
        "此接口不读取查询参数 {name}：它不接受任何查询参数",
    ),
    (
        r"query parameter (?P<name>.+) is not read here; send (?P<known>.+)",
        "此接口不读取查询参数 {name}；请发送 {known}",
    ),
    (r"query parameter (?P<name>.+) is sent more than once", "查询参数 {name} 发送了不止一次"),
    (
        r"the JSON names (?P<name>.+) more than once in one object: send each field once",
        "JSON 的同一个对象中多次出现字段 {name}：每个字段只能发送一次",
    ),
    (
        r"a form's charset is UTF-8, GB18030, GBK, GB2312, Big5 or ISO-8859-1:"
        r" send charset=utf-8, or no charset",
        "表单的字符集须为 UTF-8、GB18030、GBK、GB2312、Big5 或 ISO-8859-1："
        "请发送 charset=utf-8，或不带 charset",
    ),
]


# ingest.formats' names for what a file claims to be and what it is (its ``_CONTENT_NAMES``
# and ingest.content_sniffing's descriptions): the ``kind`` and ``content`` parts of a
# refusal. "binary data (<MIME type>)" is matched by BINARY_DATA.
CONTENT_TERMS = {
    "a PDF": "PDF 文件",
    "a DOCX file": "DOCX 文件",
    "a PPTX file": "PPTX 文件",
    "an XLSX file": "XLSX 文件",
    "an Outlook MSG file": "Outlook MSG 文件",
    "a Word 97-2003 .doc file": "Word 97-2003 .doc 文件",
    "a WPS Writer file": "WPS 文字文件",
    "an RTF file": "RTF 文件",
    "an OpenDocument text file": "OpenDocument 文本文件",
    "an Excel 97-2003 .xls file": "Excel 97-2003 .xls 文件",
    "a WPS Spreadsheets file": "WPS 表格文件",
    "an OpenDocument spreadsheet": "OpenDocument 电子表格",
    "a PowerPoint 97-2003 .ppt file": "PowerPoint 97-2003 .ppt 文件",
    "a WPS Presentation file": "WPS 演示文件",
    "an OpenDocument presentation": "OpenDocument 演示文稿",
    "an EPUB book": "EPUB 电子书",
    "a PNG image": "PNG 图片",
    "a JPEG image": "JPEG 图片",
    "a TIFF image": "TIFF 图片",
    "a BMP image": "BMP 图片",
    "a WebP image": "WebP 图片",
    "a HEIC/HEIF photo": "HEIC/HEIF 照片",
    "text": "文本",
    "unreadable data": "无法识别的数据",
    "a zip archive": "zip 压缩包",
    "a corrupt zip archive": "已损坏的 zip 压缩包",
    "an OpenDocument file": "OpenDocument 文件",
    "an OLE container": "OLE 容器",
    "a corrupt OLE container": "已损坏的 OLE 容器",
    "no extension": "无扩展名",
}
BINARY_DATA = (r"binary data \((?P<mime>[^()]*)\)", "二进制数据（{mime}）")
