"""Quarantine reasons in Chinese, for the office that must fix its data (数据问题清单.xlsx).

The pipeline writes each reason as an English sentence with the offending value quoted in it
(``not a date: '2024-13-01'``). Each known sentence has one pattern here and its Chinese wording;
the quoted parts (values, headers, row numbers) are carried over as they are. A reason no pattern
knows is kept whole behind "其他问题：", so nothing is lost if a new reason is added upstream
before its translation. Pure: no IO.
"""

from __future__ import annotations

import re

import polars as pl

_ID_RULE_ZH = "只能使用小写字母 a-z、数字 0-9 和“-”，最多 64 个字符"
# Kinds of file system entries never read (flows/io/landing.py _NOT_REGULAR), in Chinese: for the
# landing zone's quarantine reasons and nianbao audit's F0 findings.
KIND_ZH = {
    "a named pipe (fifo)": "命名管道（FIFO）",
    "a socket": "套接字",
    "a device": "设备文件",
    "a folder": "文件夹",
    "not a regular file": "非普通文件",
}

# (regular expression over the whole English reason, Chinese replacement), most specific first:
# "X given but Y is empty" must win over "X is empty". Replacements use ${name} groups.
REASON_TRANSLATIONS: tuple[tuple[str, str], ...] = (
    # transforms/rules.py: record rules.
    (r"^(?P<a>.+?) given but (?P<b>.+) is empty$", "已填写${a}，但${b}为空"),
    (r"^(?P<a>\S+) is before (?P<b>\S+)$", "${a}早于${b}"),
    (
        r"^办理结果 予以公开 contradicts 具体情形 (?P<v>'.*'): refusal reasons \((?P<f>.*)\) "
        r"but no item 予以公开 \(a request disclosed in part is 部分公开\)$",
        "办理结果“予以公开”与具体情形${v}不符：有${f}类情形，却没有一项予以公开"
        "（部分公开的申请应填“部分公开”）",
    ),
    (
        r"^办理结果 (?P<r>.*) contradicts 具体情形 (?P<v>'.*'): no item is a (?P<g>.*) reason "
        r"\(found (?P<f>.*)\)$",
        "办理结果“${r}”与具体情形${v}不符：没有一项属于“${g}”的情形（实为${f}）",
    ),
    (r"^办理结果 (?P<r>.*) needs 具体情形$", "办理结果为“${r}”，须填写具体情形"),
    (r"^(?P<a>\S+) needs (?P<b>\S+)$", "${a}须填写${b}"),
    # transforms/agencies.py: the registry.
    (
        r"^(?P<n>\S+) has an invisible character \(zero-width space, BOM…\): .*$",
        f"${{n}}含不可见字符（零宽空格、BOM 等）：{_ID_RULE_ZH}",
    ),
    (r"^(?P<n>\S+) is not valid: lowercase a-z, 0-9 and '-'.*$", f"${{n}}不合规：{_ID_RULE_ZH}"),
    (
        r"^agency_id is on rows (?P<r>.*) of (?P<f>.*): none of them is used, as which one is "
        r"right is unknown$",
        "agency_id 在 ${f} 的第 ${r} 行重复出现：无法确定哪一行正确，均未采用",
    ),
    (
        r"^a channel must not be '\.' or '\.\.' or contain '/', '\\' or control characters$",
        "渠道名称不能是“.”或“..”，也不能含“/”“\\”或控制字符",
    ),
    (r"^expected 是 or 否$", "应填“是”或“否”"),
    (r"^expected a whole number from (?P<a>\d+) to (?P<b>\d+)$", "应为 ${a} 到 ${b} 的整数"),
    # transforms/normalize.py: fields of a record.
    (r"^not a date: (?P<v>'.*')$", "不是日期：${v}"),
    (r"^date after the day of the run \((?P<d>.*)\)$", "日期晚于运行当天（${d}）"),
    (r"^date before (?P<y>\d+)$", "日期早于 ${y} 年"),
    (r"^unknown value (?P<v>'.*') \(expected (?P<e>.*)\)$", "无法识别的值${v}（应为 ${e}）"),
    (
        r"^amount out of range \(10\^12 元 or more\): (?P<v>'.*')$",
        "金额超出范围（达到 10^12 元或以上）：${v}",
    ),
    (
        r"^not an amount: scientific notation may have lost digits: (?P<v>'.*')$",
        "不是金额：科学计数法可能已丢失数位：${v}",
    ),
    (
        r"^not an amount in 元 with at most two decimals: (?P<v>'.*')$",
        "不是以元为单位、最多两位小数的金额：${v}",
    ),
    (r"^unknown 具体情形: (?P<v>'.*')$", "无法识别的具体情形：${v}"),
    (
        r"^(?P<h>\S+) (?P<v>'.*') appears (?P<n>\d+) times in this file with different values "
        r"\(rows (?P<r>.*)\)$",
        "${h} ${v} 在本文件中出现 ${n} 次且内容不同（第 ${r} 行）",
    ),
    # flows/landing.py: whole files and rows that cannot be split.
    (
        r"^neither UTF-8 nor GB18030 \(undecodable byte at offset (?P<o>\d+)\)$",
        "既不是 UTF-8 也不是 GB18030 编码（第 ${o} 字节无法解码）",
    ),
    (r"^required column (?P<c>.+) is missing$", "缺少必需的列：${c}"),
    (
        r"^cannot be read as CSV: the header row has an unclosed quote or a line break in a name$",
        "无法按 CSV 读取：表头行有未闭合的引号，或列名中有换行",
    ),
    (
        r"^cannot be read as XLSX: not a zip archive \(truncated\?\)$",
        "无法按 XLSX 读取：不是 zip 压缩包（文件可能不完整）",
    ),
    (
        r"^the workbook unpacks to (?P<a>[\d,]+) MiB, more than the (?P<b>[\d,]+) MiB a landing "
        r"XLSX may hold: not read$",
        "工作簿解压后为 ${a} MiB，超过落地区 XLSX 允许的 ${b} MiB：未读取",
    ),
    (
        r"^a sheet reaches row (?P<r>[\d,]+) and column (?P<c>[\d,]+): more than the "
        r"(?P<n>[\d,]+) cells a landing XLSX may span: not read$",
        "工作表延伸到第 ${r} 行第 ${c} 列，超过落地区 XLSX 允许的 ${n} 个单元格：未读取",
    ),
    (
        r"^unsupported file type (?P<s>.*) \(expected \.csv or \.xlsx\)$",
        "不支持的文件类型 ${s}（应为 .csv 或 .xlsx）",
    ),
    (
        r"^cannot be read as XLSX \((?P<e>\w+)\): damaged or not a workbook$",
        "无法按 XLSX 读取（${e}）：文件已损坏或不是工作簿",
    ),
    (r"^cannot be read as CSV: the file is empty$", "无法按 CSV 读取：文件为空"),
    (
        r"^cannot be read as CSV: a quote is opened and never closed \(or a stray quote\)$",
        "无法按 CSV 读取：有未闭合的引号（或多余的引号）",
    ),
    (
        r"^cannot be read as CSV \((?P<e>\w+)\): rows cannot be split$",
        "无法按 CSV 读取（${e}）：无法拆分各行",
    ),
    (
        r"^not a freepublish/batchget response \(invalid JSON: (?P<e>\w+)\)$",
        "不是 freepublish/batchget 接口的返回内容（JSON 无效：${e}）",
    ),
    (
        r"^no `item` list: an error response, not a freepublish/batchget page$",
        "没有 item 列表：这是错误响应，不是 freepublish/batchget 的一页",
    ),
    (r"^item is null: no article in it$", "item 为空：其中没有文章"),
    (r"^agency folder (?P<a>.*) is not in (?P<f>\S+)$", "机关文件夹 ${a} 不在 ${f} 中"),
    (
        r"^WeChat account (?P<a>.*) is not among the agency's 渠道 in (?P<f>\S+)$",
        "微信公众号 ${a} 不在 ${f} 所列该机关的渠道中",
    ),
    (
        r"^(?P<c>.+) is not among the agency's 渠道 in (?P<f>\S+)$",
        "${c}不在 ${f} 所列该机关的渠道中",
    ),
    (
        r"^expected wechat/<account name>/<file>\.json$",
        "应放在 wechat/<公众号名称>/<文件>.json",
    ),
    (
        r"^(?P<c>.+) is the website channel, not a WeChat account: its exports go to website/$",
        "${c}是网站渠道，不是微信公众号：其导出文件应放在 website/",
    ),
    (r"^cannot be read from the landing zone: (?P<r>.*)$", "无法从落地区读取：${r}"),
    (
        r"^the row has more values than the header has columns \(a separator inside an unquoted "
        r"value, or rows run together\): not read$",
        "该行的值比表头的列多（未加引号的值中有分隔符，或几行连在了一起）：未读取",
    ),
    (
        r"^a quoted value runs across rows \(a quote not closed where it should be\): not read$",
        "带引号的值跨越了多行（引号没有在应闭合处闭合）：未读取",
    ),
    (
        r"^symbolic link to a place outside the landing zone: not read$",
        "符号链接指向落地区以外：未读取",
    ),
    (r"^symbolic link to nothing \(broken\): not read$", "符号链接没有指向（已失效）：未读取"),
    *(
        (rf"^symbolic link to {re.escape(kind)}: not read$", f"符号链接指向{zh}：未读取")
        for kind, zh in KIND_ZH.items()
    ),
    *(
        (rf"^{re.escape(kind)}, not a regular file: not read$", f"{zh}，不是普通文件：未读取")
        for kind, zh in KIND_ZH.items()
    ),
    (r"^not a \.csv or \.xlsx file$", "不是 .csv 或 .xlsx 文件"),
    (
        r"^not a landing path \(<agency_id>/<source>/<file>\)$",
        "不是落地区的路径（应为 <agency_id>/<来源>/<文件>）",
    ),
    # flows/io/landing.py: the narrative file.
    (
        r"^not a narrative file \(expected <agency_id>/narrative/<year>\.md\)$",
        "不是叙述文件（应为 <agency_id>/narrative/<年度>.md）",
    ),
    (
        r"^larger than the (?P<n>\d+) KiB a narrative file may be: not read$",
        "超过叙述文件允许的 ${n} KiB：未读取",
    ),
    (
        r"^not UTF-8 text \(undecodable byte at offset (?P<o>\d+)\): save it as UTF-8$",
        "不是 UTF-8 文本（第 ${o} 字节无法解码）：请另存为 UTF-8",
    ),
    # Last: the generic "X is empty" (a required value, agency_id).
    (r"^(?P<h>.+) is empty$", "${h}为空"),
)

UNKNOWN_REASON_PREFIX = "其他问题："


def reason_zh(reason: pl.Expr) -> pl.Expr:
    """The Chinese wording of quarantine reasons; an unknown one is kept whole after 其他问题：.

    Examples
    --------
    >>> frame = pl.DataFrame({"reason": ["not a date: '2024-13-01'", "受理日期 is empty", "new"]})
    >>> frame.select(reason_zh(pl.col("reason")).alias("zh"))["zh"].to_list()
    ["不是日期：'2024-13-01'", '受理日期为空', '其他问题：new']
    """
    translated = pl.when(reason.is_null()).then(pl.lit(None, pl.String))
    for pattern, chinese in REASON_TRANSLATIONS:
        translated = translated.when(reason.str.contains(pattern)).then(
            reason.str.replace(pattern, chinese)
        )
    return translated.otherwise(pl.lit(UNKNOWN_REASON_PREFIX) + reason)
